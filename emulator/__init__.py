"""Built-in SuperDuper API emulator (HTTP + WebSocket), for tests, demos and benchmarks."""

from emulator.config import EmulatorConfig
from emulator.counters import EmulatorCounters
from emulator.server import Emulator

__all__ = ["Emulator", "EmulatorConfig", "EmulatorCounters"]
