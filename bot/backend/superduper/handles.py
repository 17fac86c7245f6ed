"""What the SuperDuper backend persists through the core: tickets and handles (JSON).

* ticket (state ``submitting``): ``{"project_id": <id or null>, "key": <Idempotency-Key>}``
* handle (``submitted`` on): the ticket plus ``"file_ids": [...]`` and ``"seed"``.

Databases written before the backend-neutral core are migrated to this same shape."""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.backend.errors import BackendError


@dataclass(frozen=True, slots=True)
class Submission:
    project_id: str | None
    key: str
    file_ids: tuple[str, ...] = ()
    seed: int | None = None

    def to_json(self) -> str:
        data: dict[str, object] = {"project_id": self.project_id, "key": self.key}
        if self.file_ids:
            data["file_ids"] = list(self.file_ids)
        if self.seed is not None:
            data["seed"] = self.seed
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Submission:
        try:
            data = json.loads(text)
            project_id = data.get("project_id")
            key = data["key"]
            file_ids = data.get("file_ids") or []
            seed = data.get("seed")
            if not (
                (project_id is None or isinstance(project_id, str))
                and isinstance(key, str)
                and isinstance(file_ids, list)
                and all(isinstance(f, str) for f in file_ids)
                and (seed is None or isinstance(seed, int))
            ):
                raise TypeError("wrong field types")
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise BackendError(f"unreadable SuperDuper submission: {exc}") from None
        return cls(project_id, key, tuple(file_ids), seed)
