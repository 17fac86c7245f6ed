"""The buttons of posted results, by what the job's backend can do.

A single image gets Vary (Subtle), Vary (Strong), Upscale 2×, Remix, Re-roll and Delete
(Animate where the backend makes videos); a batch is one grid with U1…Un (upscale image
k), V1…Vn (vary image k), Re-roll and Delete; a video gets Re-roll and Delete. Rows stay
within every platform's limits (Discord: 5 rows of 5)."""

from __future__ import annotations

from collections.abc import Iterable

from bot.backend.types import Capability
from bot.chat import Action, ActionKind
from bot.jobs import Job


def can_reference(capabilities: Iterable[Capability]) -> bool:
    return Capability.IMAGE_REFERENCES in set(capabilities)


def single_actions(job: Job, capabilities: frozenset[Capability], index: int = 0) -> list[Action]:
    """The buttons under one image (``index`` of its job)."""
    first: list[Action] = []
    if can_reference(capabilities):
        first = [
            Action(ActionKind.VARY_SUBTLE, job.id, "Vary (Subtle)", index, row=0),
            Action(ActionKind.VARY_STRONG, job.id, "Vary (Strong)", index, row=0),
            Action(ActionKind.UPSCALE, job.id, "Upscale 2×", index, row=0),
        ]
        if Capability.VIDEO in capabilities:
            first.append(Action(ActionKind.ANIMATE, job.id, "Animate", index, row=0))
    return [
        *first,
        Action(ActionKind.REMIX, job.id, "Remix", index, row=1),
        Action(ActionKind.REROLL, job.id, "Re-roll", row=1),
        Action(ActionKind.DELETE, job.id, "Delete", row=1),
    ]


def grid_actions(job: Job, capabilities: frozenset[Capability], indexes: list[int]) -> list[Action]:
    """The buttons under a batch's grid: U/V per image that exists, then Re-roll, Delete."""
    actions: list[Action] = []
    if can_reference(capabilities):
        actions += [Action(ActionKind.UPSCALE, job.id, f"U{i + 1}", i, row=0) for i in indexes]
        actions += [Action(ActionKind.VARY_STRONG, job.id, f"V{i + 1}", i, row=1) for i in indexes]
    return [
        *actions,
        Action(ActionKind.REROLL, job.id, "Re-roll", row=2),
        Action(ActionKind.DELETE, job.id, "Delete", row=2),
    ]


def video_actions(job: Job) -> list[Action]:
    return [
        Action(ActionKind.REROLL, job.id, "Re-roll", row=0),
        Action(ActionKind.DELETE, job.id, "Delete", row=0),
    ]
