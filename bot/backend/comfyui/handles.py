"""What the ComfyUI backend persists through the core: tickets and handles (JSON).

* ticket (state ``submitting``): ``{"host", "prompt_id", "client_id"}`` — the host the job is
  pinned to for its life, its ``prompt_id`` (uuid5 of the core's client key) and the
  WebSocket client id of the process that planned it;
* handle (``submitted`` on): the ticket plus ``"seed"`` and ``"outputs"`` (how many files
  the workflow makes), and ``"video": true`` when they are clips."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Final

from bot.backend.errors import BackendError

PROMPT_ID_NAMESPACE: Final = uuid.UUID("6d1f3c1e-5a0b-5c36-9a57-2f3c8e0b7a41")
"""uuid5 namespace of imagine-bot's ComfyUI prompt ids (never change it: ids must repeat)."""


def prompt_id_for(client_key: str) -> str:
    return str(uuid.uuid5(PROMPT_ID_NAMESPACE, client_key))


@dataclass(frozen=True, slots=True)
class Submission:
    host: str
    prompt_id: str
    client_id: str
    seed: int | None = None
    outputs: int | None = None
    """Set once submitted (a handle); None in a ticket."""
    video: bool = False
    """The outputs are clips (a video workflow)."""

    @property
    def submitted(self) -> bool:
        return self.outputs is not None

    def to_json(self) -> str:
        data: dict[str, object] = {
            "host": self.host,
            "prompt_id": self.prompt_id,
            "client_id": self.client_id,
        }
        if self.seed is not None:
            data["seed"] = self.seed
        if self.outputs is not None:
            data["outputs"] = self.outputs
        if self.video:
            data["video"] = True
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Submission:
        try:
            data = json.loads(text)
            host, prompt_id, client_id = data["host"], data["prompt_id"], data["client_id"]
            seed, outputs, video = data.get("seed"), data.get("outputs"), data.get("video", False)
            if not (
                all(isinstance(v, str) and v for v in (host, prompt_id, client_id))
                and (seed is None or (isinstance(seed, int) and not isinstance(seed, bool)))
                and (outputs is None or (isinstance(outputs, int) and outputs >= 0))
                and isinstance(video, bool)
            ):
                raise TypeError("wrong field types")
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise BackendError(f"unreadable ComfyUI submission: {exc}") from None
        return cls(host, prompt_id, client_id, seed, outputs, video)
