"""The ComfyUI emulator (ComfyUI 0.3.64's HTTP + WebSocket API), for tests, demos, benchmarks."""

from emulator.comfyui.config import ComfyEmulatorConfig
from emulator.comfyui.counters import ComfyCounters
from emulator.comfyui.server import ComfyEmulator

__all__ = ["ComfyCounters", "ComfyEmulator", "ComfyEmulatorConfig"]
