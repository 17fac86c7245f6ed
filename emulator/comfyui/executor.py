"""Runs prompts one at a time, in queue order, sending ComfyUI's events as it goes.

Per prompt: ``execution_start``, ``execution_cached``, then per node ``progress_state``
(started), ``executing``, sampler ``progress``/``progress_state``/previews, ``executed``
(nodes with UI output), ``progress_state`` (finished); then ``execution_success`` |
``execution_error`` | ``execution_interrupted``, the ``status`` broadcast, and
``executing {node: null}``. Like ComfyUI, outputs of the previous prompt's nodes stay cached
by input signature, so resubmitting the same prompt re-runs nothing.

The frames of a video: a sampler whose output reaches a ``CreateVideo`` (through decodes,
scales, batches) treats its batch as time, the way a video model does: every item is the
same picture of the prompt and seed, with a disc sweeping across it from the first frame
to the last (``emulator/render.py``'s ``moving_frame``), so the clip visibly moves and
differs per prompt and seed. The same sampler feeding only images makes one picture per
item, as before (the two are cached apart).

Holds (``manual_completion``): a sampler stops after its first step until its prompt is
released (or failed) by id; a prompt released while still queued passes its hold when it
runs, so a test can let go of any job, whatever the queue order.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import random
import struct
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageOps

from emulator.comfyui.config import ComfyEmulatorConfig
from emulator.comfyui.counters import ComfyCounters
from emulator.comfyui.files import FileStore
from emulator.comfyui.nodes import (
    FRAME_CONSUMERS,
    SAMPLERS,
    NodeFailure,
    NodeFunction,
    NodeResult,
    RunContext,
)
from emulator.comfyui.prompt_queue import PromptQueue, QueueItem
from emulator.comfyui.values import Latent, format_value
from emulator.comfyui.websocket_hub import SocketHub

PREVIEW_IMAGE = 1
PREVIEW_IMAGE_WITH_METADATA = 4
JPEG = 1
FAILURE = ("CUDA out of memory. Tried to allocate 2.00 GiB", "torch.OutOfMemoryError")
"""What a sampler raises under ``failure_rate``."""
_SAVING = ("SaveImage", "PreviewImage", "SaveVideo")
"""Nodes with the hidden inputs ``prompt`` and ``extra_pnginfo``."""


class Interrupted(Exception):
    """``POST /interrupt`` reached the running prompt."""


@dataclass(slots=True)
class _Progress:
    state: str
    value: float
    max: float


@dataclass(slots=True)
class _Run:
    """One prompt being executed."""

    prompt_id: str
    prompt: dict[str, Any]
    sid: str | None
    messages: list[list[Any]] = field(default_factory=list)
    progress: dict[str, _Progress] = field(default_factory=dict)
    executed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    signatures: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    """Set to cut a pause or a hold short (an interrupt, a release)."""
    let_go: bool = False
    """Released: its sampler passes the ``manual_completion`` hold."""
    failure: tuple[str, str] | None = None
    """Failed by a test: its held sampler raises this (message, exception type)."""
    moving: frozenset[str] = frozenset()
    """Nodes whose output becomes a video's frames (see the module docstring)."""


class Executor:
    """The one worker: takes prompts off the queue and runs them."""

    def __init__(
        self,
        config: Callable[[], ComfyEmulatorConfig],
        queue: PromptQueue,
        hub: SocketHub,
        files: FileStore,
        functions: dict[str, NodeFunction],
        outputs_of: Callable[[str], list[str]],
        counters: ComfyCounters,
        rng: random.Random,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._queue = queue
        self._hub = hub
        self._files = files
        self._functions = functions
        self._is_output = outputs_of
        self._counters = counters
        self._rng = rng
        self._fail_rng = random.Random(f"{config().seed}:failures")
        self._clock = wall_clock
        self._cache: dict[str, tuple[NodeResult, str]] = {}
        self._failures: list[tuple[str, str]] = []
        self._let_go: dict[str, tuple[str, str] | None] = {}
        """Prompts released (or failed) while queued: the hold lets them pass when they run."""
        self.current: _Run | None = None
        self.last_node_id: str | None = None
        self.client_id: str | None = None
        self.finished = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    # -- control -------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.current = None
        self.last_node_id = None

    def forget(self) -> None:
        """A restart: caches and pending failures go too."""
        self._cache.clear()
        self._failures.clear()
        self._let_go.clear()

    def interrupt(self) -> None:
        if self.current is not None:
            self.current.interrupted = True
            self.current.wake.set()

    def release(self, prompt_id: str | None = None, failure: tuple[str, str] | None = None) -> bool:
        """Let the held sampler of ``prompt_id`` (None: of the running prompt) go on, or
        raise ``failure``; a queued prompt passes its hold when it runs. False when no
        such prompt is running or queued."""
        run = self.current
        if run is not None and prompt_id in (None, run.prompt_id):
            run.let_go, run.failure = True, failure
            run.wake.set()
            return True
        if prompt_id is not None and any(item[1] == prompt_id for item in self._queue.pending):
            self._let_go[prompt_id] = failure
            return True
        return False

    def fail_next(self, message: str, exception_type: str) -> None:
        self._failures.append((message, exception_type))

    # -- the loop ------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            item, task_id = await self._queue.get()
            run = _Run(item[1], item[2], item[3].get("client_id"))
            if run.prompt_id in self._let_go:
                run.let_go, run.failure = True, self._let_go.pop(run.prompt_id)
            self.current = run
            self.client_id = run.sid
            try:
                success = await self._execute(run, item)
            finally:
                self.current = None
                self.last_node_id = None
            result = self._history_result(run)
            status = {
                "status_str": "success" if success else "error",
                "completed": success,
                "messages": run.messages,
            }
            self._queue.task_done(task_id, result, status)
            self._counters.prompts_executed += 1
            if run.sid is not None:
                self._hub.send_json(
                    "executing", {"node": None, "prompt_id": run.prompt_id}, run.sid
                )
            async with self.finished:
                self.finished.notify_all()

    def _message(self, run: _Run, event: str, data: dict[str, Any], broadcast: bool) -> None:
        data = {**data, "timestamp": int(self._clock() * 1000)}
        run.messages.append([event, data])
        if run.sid is not None or broadcast:
            self._hub.send_json(event, data, run.sid)

    async def _execute(self, run: _Run, item: QueueItem) -> bool:
        self._message(run, "execution_start", {"prompt_id": run.prompt_id}, False)
        run.moving = _feeding_frames(run.prompt)
        signatures = run.signatures = _signatures(run.prompt, run.moving)
        live = set(signatures.values())
        self._cache = {k: v for k, v in self._cache.items() if k in live}
        cached = run.cached = [n for n in run.prompt if signatures[n] in self._cache]
        self._message(run, "execution_cached", {"nodes": cached, "prompt_id": run.prompt_id}, False)
        order = _ExecutionOrder(run.prompt, set(cached), self._is_output)
        for output in item[4]:
            order.add(output)
        while not order.empty():
            node_id = order.stage()
            try:
                await self._run_node(run, node_id, signatures[node_id])
            except Interrupted:
                self._message(run, "execution_interrupted", self._failure_base(run, node_id), True)
                return False
            except NodeFailure as exc:
                self._report_error(run, node_id, str(exc), exc.exception_type, exc)
                return False
            order.complete(node_id)
        self._message(run, "execution_success", {"prompt_id": run.prompt_id}, False)
        return True

    def _failure_base(self, run: _Run, node_id: str) -> dict[str, Any]:
        return {
            "prompt_id": run.prompt_id,
            "node_id": node_id,
            "node_type": run.prompt[node_id]["class_type"],
            "executed": list(run.executed),
        }

    def _report_error(
        self, run: _Run, node_id: str, message: str, kind: str, exc: BaseException
    ) -> None:
        inputs = dict(run.inputs.get(node_id, {}))
        if run.prompt[node_id]["class_type"] in _SAVING:
            inputs.update(prompt=run.prompt, extra_pnginfo=None)
        data = {
            **self._failure_base(run, node_id),
            "exception_message": f"{message}\n",
            "exception_type": kind,
            "traceback": traceback.format_tb(exc.__traceback__),
            "current_inputs": {k: [format_value(v)] for k, v in inputs.items()},
            "current_outputs": list(run.prompt),
        }
        self._message(run, "execution_error", data, False)

    async def _run_node(self, run: _Run, node_id: str, signature: str) -> None:
        node = run.prompt[node_id]
        hit = self._cache.get(signature)
        if hit is not None:
            result, _ = hit
            if run.sid is not None:
                self._send_executed(run, node_id, result)
            entry = run.progress.setdefault(node_id, _Progress("pending", 0, 1))
            entry.state, entry.value = "finished", entry.max
            self._send_progress_state(run)
            return
        run.progress[node_id] = _Progress("running", 0.0, 1.0)
        self._send_progress_state(run)
        inputs = run.inputs[node_id] = self._inputs(run, node)
        if run.sid is not None:
            self.last_node_id = node_id
            self._hub.send_json(
                "executing", {"node": node_id, "display_node": node_id, "prompt_id": run.prompt_id},
                run.sid,
            )  # fmt: skip
        self._check(run)  # ComfyUI looks at the interrupt flag right before a node runs
        cfg = self._config()
        pause = cfg.node_time + (
            cfg.load_time if node["class_type"] == "CheckpointLoaderSimple" else 0
        )
        if pause and node["class_type"] != "KSampler":
            await self._pause(run, pause)
        if node["class_type"] in SAMPLERS:
            self._maybe_fail(cfg)
        ctx = RunContext(
            self._files,
            self._step_hook(run, node_id),
            self._temp_suffix,
            prompt=run.prompt,
            moving=node_id in run.moving,
        )
        result = await self._functions[node["class_type"]](inputs, ctx)
        self._cache[signature] = (result, node_id)
        if result.ui and run.sid is not None:
            self._send_executed(run, node_id, result)
        entry = run.progress[node_id]
        entry.state, entry.value = "finished", entry.max
        self._send_progress_state(run)
        run.executed.append(node_id)

    def _send_executed(self, run: _Run, node_id: str, result: NodeResult) -> None:
        data = {"node": node_id, "display_node": node_id, "output": result.ui}
        self._hub.send_json("executed", {**data, "prompt_id": run.prompt_id}, run.sid)

    def _inputs(self, run: _Run, node: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, value in node["inputs"].items():
            if isinstance(value, list) and len(value) == 2:
                source = run.signatures[str(value[0])]
                values[name] = self._cache[source][0].outputs[value[1]]
            else:
                values[name] = value
        return values

    def _maybe_fail(self, cfg: ComfyEmulatorConfig) -> None:
        if self._failures:
            message, kind = self._failures.pop(0)
            raise NodeFailure(message, kind)
        if cfg.failure_rate and self._fail_rng.random() < cfg.failure_rate:
            raise NodeFailure(FAILURE[0], FAILURE[1])

    def _check(self, run: _Run) -> None:
        if run.interrupted:
            raise Interrupted

    async def _pause(self, run: _Run, seconds: float) -> None:
        try:
            await asyncio.wait_for(run.wake.wait(), seconds)
        except TimeoutError:
            return
        if not run.interrupted:
            run.wake.clear()

    async def _hold(self, run: _Run) -> None:
        """``manual_completion``: wait until the prompt is released, failed or interrupted."""
        while not (run.let_go or run.interrupted):
            run.wake.clear()
            await run.wake.wait()
        self._check(run)
        if run.failure is not None:
            message, kind = run.failure
            raise NodeFailure(message, kind)

    def _step_hook(self, run: _Run, node_id: str) -> Callable[[int, int, Latent], Any]:
        async def step(value: int, total: int, latent: Latent) -> None:
            cfg = self._config()
            if cfg.step_time:
                await self._pause(run, cfg.step_time)
            self._check(run)
            entry = run.progress[node_id]
            entry.state, entry.value, entry.max = "running", value, total
            self._send_progress_state(run)
            conn = self._hub.sockets.get(run.sid) if run.sid is not None else None
            with_metadata = conn is not None and bool(
                conn.feature_flags.get("supports_preview_metadata")
            )
            preview = cfg.preview_method != "none"
            if preview and with_metadata:
                self._send_preview(run, node_id, latent, metadata=True)
            self._hub.send_json(
                "progress",
                {"value": value, "max": total, "prompt_id": run.prompt_id, "node": node_id},
                run.sid,
            )
            if preview and not with_metadata:
                self._send_preview(run, node_id, latent, metadata=False)
            if value == 1 and cfg.manual_completion:
                await self._hold(run)

        return step

    def _send_preview(self, run: _Run, node_id: str, latent: Latent, *, metadata: bool) -> None:
        picture = latent.decoded().frames[0]
        size = self._config().preview_size
        preview = ImageOps.contain(picture, (size, size), Image.Resampling.BILINEAR)
        body = io.BytesIO()
        preview.save(body, "JPEG", quality=95)
        if metadata:
            meta = json.dumps(
                {"node_id": node_id, "prompt_id": run.prompt_id, "display_node_id": node_id,
                 "parent_node_id": None, "real_node_id": node_id, "image_type": "image/jpeg"}
            ).encode()  # fmt: skip
            frame = (
                struct.pack(">II", PREVIEW_IMAGE_WITH_METADATA, len(meta)) + meta + body.getvalue()
            )
        else:
            frame = struct.pack(">II", PREVIEW_IMAGE, JPEG) + body.getvalue()
        self._hub.send_bytes(frame, run.sid)

    def _send_progress_state(self, run: _Run) -> None:
        nodes = {
            node_id: {
                "value": p.value, "max": p.max, "state": p.state, "node_id": node_id,
                "prompt_id": run.prompt_id, "display_node_id": node_id,
                "parent_node_id": None, "real_node_id": node_id,
            }
            for node_id, p in run.progress.items()
            if p.state != "pending"
        }  # fmt: skip
        self._hub.send_json("progress_state", {"prompt_id": run.prompt_id, "nodes": nodes}, run.sid)

    def _temp_suffix(self) -> str:
        return "".join(self._rng.choice("abcdefghijklmnopqrstupvxyz") for _ in range(5))

    def _history_result(self, run: _Run) -> dict[str, Any]:
        signatures = run.signatures or _signatures(run.prompt)
        outputs: dict[str, Any] = {}
        meta: dict[str, Any] = {}
        for node_id in run.prompt:
            hit = self._cache.get(signatures[node_id])
            if hit is not None and hit[0].ui:
                outputs[node_id] = hit[0].ui
                meta[node_id] = {"node_id": node_id, "display_node": node_id,
                                 "parent_node": None, "real_node_id": node_id}  # fmt: skip
        return {"outputs": outputs, "meta": meta}


def _feeding_frames(prompt: dict[str, Any]) -> frozenset[str]:
    """The nodes a frame consumer (``CreateVideo``) is downstream of."""
    found: set[str] = set()
    stack = [n for n, node in prompt.items() if node["class_type"] in FRAME_CONSUMERS]
    while stack:
        for value in prompt[stack.pop()]["inputs"].values():
            if isinstance(value, list) and len(value) == 2 and str(value[0]) in prompt:
                source = str(value[0])
                if source not in found:
                    found.add(source)
                    stack.append(source)
    return frozenset(found)


def _signatures(prompt: dict[str, Any], moving: frozenset[str] = frozenset()) -> dict[str, str]:
    """Each node's cache key: its class, constants and the keys of what it links to (a
    sampler making a video's frames is told apart from the same one making images)."""
    memo: dict[str, str] = {}

    def key(node_id: str, stack: tuple[str, ...]) -> str:
        if node_id in memo:
            return memo[node_id]
        if node_id in stack:
            return f"cycle:{node_id}"
        node = prompt[node_id]
        parts: list[Any] = [node["class_type"]]
        if node_id in moving and node["class_type"] in SAMPLERS:
            parts.append("frames of a video")
        for name, value in sorted(node["inputs"].items()):
            if isinstance(value, list) and len(value) == 2 and str(value[0]) in prompt:
                parts.append([name, key(str(value[0]), (*stack, node_id)), value[1]])
            else:
                parts.append([name, value])
        memo[node_id] = json.dumps(parts, sort_keys=True, default=str)
        return memo[node_id]

    return {node_id: key(node_id, ()) for node_id in prompt}


class _ExecutionOrder:
    """ComfyUI's topological dissolve: from the outputs back through uncached inputs; of the
    ready nodes, prefer an output, then one feeding an output, then one two steps away."""

    def __init__(
        self, prompt: dict[str, Any], cached: set[str], is_output: Callable[[str], list[str]]
    ) -> None:
        self._prompt = prompt
        self._cached = cached
        self._is_output = is_output
        self.pending: dict[str, bool] = {}
        self.block_count: dict[str, int] = {}
        self.blocking: dict[str, dict[str, bool]] = {}

    def _output(self, node_id: str) -> bool:
        return bool(self._is_output(self._prompt[node_id]["class_type"]))

    def add(self, root: str) -> None:
        stack = [root]
        links: list[tuple[str, str]] = []
        while stack:
            node_id = stack.pop()
            if node_id in self.pending:
                continue
            self.pending[node_id] = True
            self.block_count[node_id] = 0
            self.blocking[node_id] = {}
            for value in self._prompt[node_id]["inputs"].values():
                if isinstance(value, list) and len(value) == 2:
                    source = str(value[0])
                    if source not in self._cached:
                        stack.append(source)
                        links.append((source, node_id))
        for source, target in links:
            if source not in self._cached and target not in self.blocking[source]:
                self.blocking[source][target] = True
                self.block_count[target] += 1

    def empty(self) -> bool:
        return not self.pending

    def stage(self) -> str:
        ready = [n for n in self.pending if self.block_count[n] == 0]
        for node_id in ready:
            if self._output(node_id):
                return node_id
        for node_id in ready:
            if any(self._output(b) for b in self.blocking[node_id]):
                return node_id
        for node_id in ready:
            for blocked in self.blocking[node_id]:
                if any(self._output(b) for b in self.blocking[blocked]):
                    return node_id
        return ready[0]

    def complete(self, node_id: str) -> None:
        del self.pending[node_id]
        for blocked in self.blocking.pop(node_id):
            self.block_count[blocked] -= 1
