"""What is benchmarked: the modes (watcher set-ups) and the timing profiles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

BackendKind = Literal["hybrid", "fixed-poll"]
Service = Literal["superduper", "comfyui"]


@dataclass(frozen=True, slots=True)
class Mode:
    key: str
    title: str
    backend: BackendKind
    emulator: dict[str, Any] = field(default_factory=dict)
    """Emulator knobs for this mode (``EmulatorConfig`` field names, and the bench's own
    ``ws_flap_every``: see ``bench/emulator_proc.py``)."""
    client: dict[str, Any] = field(default_factory=dict)
    """``SuperDuperSettings`` overrides on top of the profile's."""
    restart: bool = True
    """Also run the restart phase (N held in flight, stop, complete, new bot)."""


MODES: dict[str, Mode] = {
    mode.key: mode
    for mode in (
        Mode("a", "hybrid, WebSocket healthy", "hybrid"),
        Mode(
            "b", "hybrid, WebSocket unavailable (polling only)", "hybrid", {"ws_available": False}
        ),
        Mode(
            "c",
            "hybrid, 20% of WebSocket events dropped",
            "hybrid",
            {"ws_drop_rate": 0.2},
            restart=False,
        ),
        Mode("d", "baseline: one fixed 2 s poll loop per job, no WebSocket", "fixed-poll"),
        Mode(
            "e",
            "hybrid, WebSocket cut every 10 s for the whole run",
            "hybrid",
            {"ws_flap_every": 10.0},
            restart=False,
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    gen_time: tuple[float, float]
    """The emulator's generation time range (seconds, uniform)."""
    client: dict[str, Any]
    """``SuperDuperSettings`` overrides (timings) for the hybrid modes."""
    baseline_interval: float = 2.0
    """Mode (d)'s fixed poll interval: the original notes' 2 s."""
    description: str = ""


FAST = Profile(
    name="fast",
    gen_time=(2.0, 4.0),
    client={
        # The production defaults are tuned for the real service's 30-40 s; these are the
        # same knobs scaled to 2-4 s generations (the lower bound is the expected time).
        "expected_generation_time": 2.0,
        "poll_interval_min": 0.2,
        "poll_interval_cap": 2.0,
        "safety_net_poll": 4.0,
        "reconcile_spread": 0.5,
    },
    description="2-4 s generations (the emulator's default), client timings scaled to match",
)

REALISTIC = Profile(
    name="realistic",
    gen_time=(30.0, 40.0),
    client={},
    description="30-40 s generations like the real service, production client defaults",
)

PROFILES: dict[str, Profile] = {p.name: p for p in (FAST, REALISTIC)}
