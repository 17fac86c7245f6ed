"""Every path of the SuperDuper API this client uses, in one place.

A deployment whose service spells a route differently edits this module only.
Ids are percent-encoded so a hostile id can never change the path.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

from bot.backend.types import Task

PROJECTS: Final = "/api/projects"
GENERATE_IMAGE: Final = "/api/generation/image"
GENERATE_VIDEO: Final = "/api/generation/video"
WEBSOCKET: Final = "/ws"


def project(project_id: str) -> str:
    return f"{PROJECTS}/{quote(project_id, safe='')}"


def file(file_id: str) -> str:
    return f"/api/files/{quote(file_id, safe='')}"


def generation(task: Task) -> str:
    """Videos have their own route; upscales are image generations with a reference."""
    return GENERATE_VIDEO if task is Task.VIDEO else GENERATE_IMAGE
