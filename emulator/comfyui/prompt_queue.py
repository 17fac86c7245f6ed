"""Pending prompts (a heap by number, like ComfyUI's), the running one, and history."""

from __future__ import annotations

import asyncio
import copy
import heapq
import time
from collections.abc import Callable
from typing import Any

QueueItem = tuple[float, str, dict[str, Any], dict[str, Any], list[str]]
"""(number, prompt_id, prompt, extra_data, outputs to execute) — ``/queue``'s tuples."""
MAXIMUM_HISTORY_SIZE = 10000
SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")


class PromptQueue:
    """Every change that alters ``queue_remaining`` calls ``on_change`` (a status broadcast)."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self._on_change = on_change
        self._pending: list[QueueItem] = []
        self.running: dict[int, QueueItem] = {}
        self.history: dict[str, dict[str, Any]] = {}
        self.completed_at: dict[str, float] = {}
        """Prompt id → ``time.monotonic()`` when its run ended (for benchmarks)."""
        self._task_counter = 0
        self._not_empty = asyncio.Event()

    def put(self, item: QueueItem) -> None:
        heapq.heappush(self._pending, item)
        self._not_empty.set()
        self._on_change()

    async def get(self) -> tuple[QueueItem, int]:
        while not self._pending:
            self._not_empty.clear()
            await self._not_empty.wait()
        item = heapq.heappop(self._pending)
        task_id = self._task_counter
        self._task_counter += 1
        self.running[task_id] = copy.deepcopy(item)
        self._on_change()
        return item, task_id

    def task_done(self, task_id: int, result: dict[str, Any], status: dict[str, Any]) -> None:
        item = self.running.pop(task_id)
        if len(self.history) > MAXIMUM_HISTORY_SIZE:
            self.history.pop(next(iter(self.history)))
        for key in SENSITIVE_EXTRA_DATA_KEYS:
            item[3].pop(key, None)
        # A reused prompt_id replaces the older entry but keeps its place, as a dict does.
        self.history[item[1]] = {"prompt": item, "outputs": {}, "status": status, **result}
        self.completed_at[item[1]] = time.monotonic()
        self._on_change()

    @property
    def pending(self) -> list[QueueItem]:
        return list(self._pending)

    @property
    def remaining(self) -> int:
        return len(self._pending) + len(self.running)

    def wipe(self) -> None:
        self._pending = []
        self._on_change()

    def delete(self, prompt_id: str) -> bool:
        """Drop the first pending item (in heap order) with this id, as ComfyUI does."""
        for index, item in enumerate(self._pending):
            if item[1] == prompt_id:
                if len(self._pending) == 1:
                    self.wipe()
                else:
                    self._pending.pop(index)
                    heapq.heapify(self._pending)
                self._on_change()
                return True
        return False

    def get_history(
        self, prompt_id: str | None = None, max_items: int | None = None, offset: int = -1
    ) -> dict[str, Any]:
        if prompt_id is not None:
            entry = self.history.get(prompt_id)
            return {} if entry is None else {prompt_id: copy.deepcopy(entry)}
        if offset < 0 and max_items is not None:
            offset = len(self.history) - max_items
        out: dict[str, Any] = {}
        for index, (key, entry) in enumerate(self.history.items()):
            if index >= offset:
                out[key] = entry
                if max_items is not None and len(out) >= max_items:
                    break
        return out

    def clear(self) -> None:
        """Forget everything (a restart); no broadcast, nobody is connected."""
        self._pending = []
        self.running.clear()
        self.history.clear()
