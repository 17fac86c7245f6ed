"""The ComfyUI emulator (HTTP + WebSocket, ComfyUI 0.3.64's API), for tests, demos and benchmarks."""

from emulator.comfyui.config import ComfyEmulatorConfig
from emulator.comfyui.counters import ComfyCounters
from emulator.comfyui.server import ComfyEmulator

__all__ = ["ComfyCounters", "ComfyEmulator", "ComfyEmulatorConfig"]
