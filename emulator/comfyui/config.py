"""Knobs of the ComfyUI emulator (mutable: tests may change them at runtime)."""

from __future__ import annotations

from dataclasses import dataclass, field

PREVIEW_METHODS = ("none", "auto", "latent2rgb", "taesd")


@dataclass(slots=True)
class ComfyEmulatorConfig:
    """How the emulator behaves. Knobs apply to work and connections started after a change."""

    checkpoints: tuple[str, ...] = ("emulator-sd15.safetensors",)
    """What ``CheckpointLoaderSimple.ckpt_name`` accepts (and ``/object_info`` lists)."""
    step_time: float = 0.01
    """Seconds per sampler step (KSampler runs ``steps`` of them)."""
    node_time: float = 0.0
    """Seconds every other executed node takes."""
    load_time: float = 0.0
    """Extra seconds a ``CheckpointLoaderSimple`` takes (a model load)."""
    preview_method: str = "none"
    """Like ``--preview-method``: anything but ``none`` sends a binary JPEG preview per step."""
    preview_size: int = 512
    """Like ``--preview-size``: previews fit in a square of this many pixels."""
    manual_completion: bool = False
    """True: a sampler stops after its first step until its prompt is released (or failed):
    ``ComfyEmulator.release`` / ``fail``."""
    ws_drop_rate: float = 0.0
    """Share of WebSocket messages (per socket) silently not sent."""
    ws_duplicate_rate: float = 0.0
    """Share of WebSocket messages (per socket) sent twice."""
    ws_close_after: float | None = None
    """Close each WebSocket this many seconds after accepting it."""
    ws_accept_then_close: bool = False
    """Accept the upgrade, then close the connection at once."""
    ws_available: bool = True
    """False: the WebSocket handshake is answered with 503."""
    failure_rate: float = 0.0
    """Share of sampler runs that raise ``torch.OutOfMemoryError`` (→ ``execution_error``)."""
    http_5xx_rate: float = 0.0
    """Share of HTTP requests answered 503 (the handshake excluded)."""
    response_delay: float = 0.0
    """Seconds added before every HTTP response (the WebSocket handshake included)."""
    required_authorization: str | None = field(default=None, repr=False)
    """When set, every request must carry exactly this ``Authorization`` header (as a proxy in
    front of ComfyUI would demand); 401 otherwise."""
    max_upload_size: int = 100 * 1024 * 1024
    """Largest request body accepted (``--max-upload-size``)."""
    seed: int = 0
    """Seeds the emulator's random choices (faults, preview file names)."""

    def __post_init__(self) -> None:
        for name in ("ws_drop_rate", "ws_duplicate_rate", "failure_rate", "http_5xx_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        for name in ("step_time", "node_time", "load_time", "response_delay"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.ws_close_after is not None and self.ws_close_after < 0:
            raise ValueError("ws_close_after must not be negative")
        if self.preview_method not in PREVIEW_METHODS:
            raise ValueError(f"preview_method must be one of {PREVIEW_METHODS}")
        if not self.checkpoints:
            raise ValueError("checkpoints must name at least one file")
