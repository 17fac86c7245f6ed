"""The SuperDuper API emulator (HTTP + WebSocket), for tests, demos and benchmarks."""

from emulator.superduper.config import EmulatorConfig
from emulator.superduper.counters import EmulatorCounters
from emulator.superduper.server import Emulator

__all__ = ["Emulator", "EmulatorConfig", "EmulatorCounters"]
