"""Every request body the SuperDuper client sends, in one place (with ``paths.py``, the
whole contract). ``docs/backend-api.md`` documents each field.

Image references are not in the original notes; the assumed shape (honoured by the
emulator) is the existing ``references`` list holding ``data:`` URIs of the images, and a
``reference_weight`` from 0 (loose) to 1 (as close as possible)."""

from __future__ import annotations

import base64
from typing import Any

from bot.backend.types import GenerationRequest, Task

SHOT_SIZE = "Medium Shot"
GENERATION_CONFIG = "comfyui/flux"


def minimal_project_payload(title: str) -> dict[str, Any]:
    """The smallest body the service accepts for a project; the title goes in as its prompt."""
    return {
        "type": "image",
        "template_name": None,
        "config": {
            "prompt": title,
            "negative_prompt": "",
            "width": 1024,
            "height": 1024,
            "steps": 20,
            "shot_size": SHOT_SIZE,
            "seed": 123456789,
            "generation_config_name": GENERATION_CONFIG,
            "batch_size": 1,
            "style_name": "real_estate",
            "references": [],
            "entity_ids": [],
            "model_type": None,
        },
    }


def generation_payload(request: GenerationRequest, project_id: str | None) -> dict[str, Any]:
    """``POST /api/generation/image`` (or ``/video``, with ``seconds``) for a neutral request.

    The video call is assumed to take the image call's fields plus ``seconds`` (whole
    seconds, 1..10), with files that gain ``content_type: video/mp4`` and ``duration``."""
    body: dict[str, Any] = {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "width": request.width,
        "height": request.height,
        "steps": request.steps,
        "seed": request.seed,
        "batch_size": request.count,
        "style_name": request.style,
        "shot_size": SHOT_SIZE,
        "generation_config_name": GENERATION_CONFIG,
        "references": [],
        "entity_ids": [],
        "model_type": None,
        "project_id": project_id,
    }
    if request.task is Task.VIDEO:
        del body["batch_size"], body["steps"]
        body["seconds"] = round(request.seconds or 4)
    if request.reference is not None:
        ref = request.reference
        encoded = base64.b64encode(ref.data).decode("ascii")
        body["references"] = [f"data:{ref.content_type};base64,{encoded}"]
        body["reference_weight"] = round(ref.weight, 3)
    return body
