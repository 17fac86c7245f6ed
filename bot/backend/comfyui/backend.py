"""``ImageBackend`` for ComfyUI: one or more hosts, the workflows, the hybrid watcher.

No per-channel scope. ``plan`` pins a job to the least busy healthy host and derives its
``prompt_id`` from the core's client key; ``submit`` sends it exactly once (ComfyUI queues
a reused ``prompt_id`` again, so the host's ``/queue`` and ``/history`` are checked before
every send); tickets and handles are ``handles.Submission`` JSON.

Videos (``Task.VIDEO``): the txt2video workflow samples ``seconds × VIDEO_FPS`` frames as
one batch into ``CreateVideo`` → ``SaveVideo`` (MP4, H.264); with a reference, img2video
makes it the first frame and samples the frames after it from it. The clip is checked
like any video (``bot/media/video.py``: container, first frame, ``max_video_bytes``)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, TypeVar

import httpx

from bot.backend.backoff import full_jitter
from bot.backend.comfyui.client import ComfyClient, host_label
from bot.backend.comfyui.errors import UnexpectedResponse, refusal
from bot.backend.comfyui.handles import Submission, prompt_id_for
from bot.backend.comfyui.hosts import Host
from bot.backend.comfyui.outputs import CLIP_TYPES
from bot.backend.comfyui.settings import (
    AUTHORIZATION_SETTING,
    URLS_SETTING,
    ComfyUISettings,
)
from bot.backend.comfyui.watcher import ComfyWatcher
from bot.backend.comfyui.workflows import Field, Graph, Workflow, Workflows, load_workflows
from bot.backend.errors import (
    AuthRefused,
    BackendError,
    BackendUnavailable,
    DownloadRefused,
    InvalidRequest,
)
from bot.backend.fetch import fetch_media, origin_of
from bot.backend.retry import Sleep, WallClock
from bot.backend.types import (
    BackendStats,
    BackendStatus,
    Capability,
    GenerationRequest,
    Media,
    Outcome,
    OutcomeStatus,
    ProgressCallback,
    ReferenceImage,
    ResultFile,
    Task,
)
from bot.backend.websocket import Connect
from bot.store import ValueStore

log = logging.getLogger(__name__)

NAME: Final = "comfyui"
CAPABILITIES: Final = frozenset(
    {
        Capability.PROGRESS,
        Capability.PREVIEWS,
        Capability.IMAGE_REFERENCES,
        Capability.UPSCALE,
        Capability.CANCEL,
        Capability.VIDEO,
    }
)
CLIENT_ID_KEY: Final = "comfyui.client_id"
_EXTENSIONS: Final = MappingProxyType(
    {"image/png": "png", "image/jpeg": "jpg", "image/jpg": "jpg", "image/webp": "webp"}
)
_CANCEL_ROUNDS: Final = 3
VIDEO_FPS: Final = 8
"""Frames per second of the clips the built-in video workflows make."""
DEFAULT_SECONDS: Final = 4.0
_CLIP_TYPES: Final = frozenset(CLIP_TYPES.values())

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Work:
    """What one request makes ComfyUI do: a workflow, the values it takes, the reference
    to upload first (if any), and how many files it makes."""

    workflow: Workflow
    values: Mapping[Field, object]
    outputs: int
    reference: ReferenceImage | None = None
    video: bool = False


class ComfyUIBackend:
    """One per process. ``http`` is shared and owned by the caller (not closed here).

    ``values`` keeps the WebSocket client id across restarts under ``client_id_key`` (give
    each replica its own key). The workflows are loaded and mapped here, so a
    ``COMFYUI_WORKFLOW`` that cannot be mapped raises ``WorkflowError`` at construction.
    ``rng`` drives every jitter and the client id; ``sleep`` is the pause between retries."""

    def __init__(
        self,
        settings: ComfyUISettings,
        http: httpx.AsyncClient,
        *,
        values: ValueStore,
        client_id_key: str = CLIENT_ID_KEY,
        workflows: Workflows | None = None,
        rng: random.Random | None = None,
        sleep: Sleep | None = None,
        wall_clock: WallClock | None = None,
        connect_factory: Connect | None = None,
    ) -> None:
        self.settings = settings
        self.workflows = workflows or load_workflows(settings.workflow_path)
        self._values = values
        self._client_id_key = client_id_key
        self._rng = rng if rng is not None else random.Random()
        self._sleep: Sleep = sleep if sleep is not None else asyncio.sleep
        self.watcher = ComfyWatcher(settings, rng=self._rng, connect_factory=connect_factory)
        self.hosts = tuple(
            Host(
                ComfyClient(
                    url,
                    settings,
                    http,
                    rng=self._rng,
                    sleep=self._sleep,
                    wall_clock=wall_clock if wall_clock is not None else time.time,
                ),
                settings,
                rng=self._rng,
                spawn=self.watcher.spawn,
            )
            for url in settings.urls
        )
        self._by_base = {h.client.base: h for h in self.hosts}
        self.service = (
            f"ComfyUI at {self.hosts[0].label}"
            if len(self.hosts) == 1
            else f"ComfyUI ({len(self.hosts)} hosts)"
        )
        self._started = False

    @property
    def name(self) -> str:
        return NAME

    @property
    def label(self) -> str:
        return self.service

    @property
    def capabilities(self) -> frozenset[Capability]:
        return CAPABILITIES

    @property
    def client_id(self) -> str:
        return self.watcher.client_id

    async def start(self) -> None:
        """Load (or create and keep) the client id, then open one socket per host."""
        if self._started:
            return
        client_id = await self._values.get_value(self._client_id_key)
        if not client_id:
            client_id = uuid.UUID(int=self._rng.getrandbits(128), version=4).hex
            await self._values.set_value(self._client_id_key, client_id)
        await self.watcher.start(client_id, self.hosts)
        self._started = True

    async def aclose(self) -> None:
        await self.watcher.aclose()
        await asyncio.gather(*(h.aclose() for h in self.hosts))

    # -- the neutral protocol ------------------------------------------------------------

    async def prepare(self, channel: str, *, stale: str | None = None) -> str | None:
        return None

    async def plan(self, *, scope: str | None, client_key: str) -> str:
        """Pin the job to the least busy healthy host."""
        if not self._started:
            raise RuntimeError("start the backend first")
        host = await self._least_busy()
        prompt_id = prompt_id_for(client_key)
        host.plan(prompt_id)
        return Submission(host.client.base, prompt_id, self.client_id).to_json()

    async def submit(self, request: GenerationRequest, *, ticket: str) -> str:
        planned = Submission.from_json(ticket)
        host = self._host(planned)
        work = self._work(request, host)
        posted = False
        try:
            posted = await self._tagged(host, lambda: self._send_once(host, planned, work))
        finally:
            host.planned_done(planned.prompt_id, queued=posted)
        if posted:
            self.watcher.note_submitted(host, planned.prompt_id)
        return Submission(
            planned.host,
            planned.prompt_id,
            planned.client_id,
            request.seed,
            work.outputs,
            work.video,
        ).to_json()

    async def wait(
        self, handle: str, *, timeout: float, on_progress: ProgressCallback | None = None
    ) -> Outcome:
        submission = Submission.from_json(handle)
        host = self._by_base.get(submission.host)
        if host is None:
            return Outcome(
                OutcomeStatus.FAILED,
                reason=f"the job ran on {host_label(submission.host)}, which is no longer in "
                f"{URLS_SETTING}",
                retryable=False,
            )
        return await self.watcher.wait(host, submission, timeout=timeout, on_progress=on_progress)

    async def download(self, result: ResultFile) -> Media:
        """Fetch an output from the host that made it (its origin only); a clip is checked
        as a video (``bot/media/video.py``, within ``max_video_bytes``)."""
        if result.url is None:
            raise BackendError("this output has no URL", service=self.service)
        url = result.url
        try:
            origin = origin_of(httpx.URL(url))
        except (httpx.InvalidURL, ValueError):
            raise DownloadRefused("the result URL is not a valid URL") from None
        host = next((h for h in self.hosts if origin_of(httpx.URL(h.client.base)) == origin), None)
        if host is None:
            raise DownloadRefused(
                "refusing a result URL that is not on a ComfyUI host", service=self.service
            )
        found = host

        async def send(target: str) -> httpx.Response:
            return await found.client.send("GET", target, stream=True)

        base = httpx.URL(found.client.base)
        video = result.content_type in _CLIP_TYPES
        return await self._tagged(
            found, lambda: fetch_media(send, url, base=base, limits=self.settings, video=video)
        )

    async def cancel(self, submission: str) -> bool:
        """Running → ``POST /interrupt``; pending → ``POST /queue {"delete"}``. Works on a
        ticket too (its POST may have landed before a crash)."""
        sub = Submission.from_json(submission)
        host = self._by_base.get(sub.host)
        if host is None:
            return False
        return await self._tagged(host, lambda: self._stop(host, sub.prompt_id))

    async def probe(self) -> BackendStatus:
        """Each host's ``GET /system_stats``."""
        answers = await asyncio.gather(*(self._probe(h) for h in self.hosts))
        up = [h for h, answer in zip(self.hosts, answers, strict=True) if answer is None]
        realtime = bool(up) and all(h.connected for h in up)
        parts = [
            f"{h.label} {answer or ('reachable, live events' if h.connected else 'polling')}"
            for h, answer in zip(self.hosts, answers, strict=True)
        ]
        detail = f"ComfyUI: {'; '.join(parts)}"
        if len(up) < len(self.hosts):
            detail += f" (check {URLS_SETTING})"
        return BackendStatus(bool(up), realtime, detail)

    def stats(self) -> BackendStats:
        w = self.watcher
        up = all(h.connected for h in self.hosts)
        return BackendStats(up, w.status_polls, w.events_received, w.connections)

    # -- internals -------------------------------------------------------------------------

    def _host(self, submission: Submission) -> Host:
        host = self._by_base.get(submission.host)
        if host is None:
            raise BackendUnavailable(
                f"the job was planned on {host_label(submission.host)}, which is no longer in "
                f"{URLS_SETTING}",
                service=self.service,
                setting=URLS_SETTING,
            )
        return host

    async def _least_busy(self) -> Host:
        candidates = [h for h in self.hosts if h.healthy] or list(self.hosts)  # all down: look
        await asyncio.gather(
            *(h.refresh_load() for h in candidates if not (h.connected and h.healthy))
        )
        healthy = [h for h in candidates if h.healthy]
        if not healthy:
            labels = ", ".join(h.label for h in self.hosts)
            if any(h.auth_refused for h in self.hosts):
                raise AuthRefused(
                    f"ComfyUI ({labels}) refused the bot's authorization",
                    service=self.service,
                    setting=AUTHORIZATION_SETTING,
                )
            raise BackendUnavailable(
                f"no ComfyUI host is answering ({labels}); check {URLS_SETTING}",
                service=self.service,
                setting=URLS_SETTING,
            )
        return min(healthy, key=lambda h: h.load())

    def _work(self, request: GenerationRequest, host: Host) -> _Work:
        if request.task is Task.UPSCALE:
            if request.reference is None:
                raise InvalidRequest("an upscale needs the image to upscale", service=host.service)
            return _Work(self.workflows.upscale, {}, 1, request.reference)
        values: dict[Field, object] = {
            Field.PROMPT: request.prompt,
            Field.NEGATIVE: request.negative_prompt,
            Field.SEED: request.seed,
            Field.STEPS: request.steps,
            Field.CHECKPOINT: self.settings.checkpoint,
        }
        reference = request.reference
        if reference is not None:
            values[Field.DENOISE] = _denoise(reference)
        if request.task is Task.VIDEO:
            return self._video_work(request, values)
        values[Field.BATCH] = request.count
        if reference is not None:
            return _Work(self.workflows.img2img, values, request.count, reference)
        values[Field.WIDTH] = request.width
        values[Field.HEIGHT] = request.height
        return _Work(self.workflows.txt2img, values, request.count)

    def _video_work(self, request: GenerationRequest, values: dict[Field, object]) -> _Work:
        """``seconds × VIDEO_FPS`` frames, the sampler's batch; a reference is the first of
        them (the sampler makes the rest)."""
        frames = max(2, round((request.seconds or DEFAULT_SECONDS) * VIDEO_FPS))
        values[Field.WIDTH] = request.width
        values[Field.HEIGHT] = request.height
        values[Field.FPS] = float(VIDEO_FPS)
        if request.reference is None:
            values[Field.BATCH] = frames
            return _Work(self.workflows.txt2video, values, 1, video=True)
        values[Field.BATCH] = frames - 1
        return _Work(self.workflows.img2video, values, 1, request.reference, video=True)

    async def _send_once(self, host: Host, sub: Submission, work: _Work) -> bool:
        """POST the prompt unless the host already has it; True when this call sent it.

        Rounds: look in ``/queue`` then ``/history`` (in that order: a job moves from the
        queue to the history, never back); absent from both → POST. A POST that may have
        arrived (a read timeout, a 5xx) is never resent blindly: the next round looks first."""
        graph: Graph | None = None
        rounds = self.settings.retry_attempts
        loop = asyncio.get_running_loop()
        since = loop.time()
        for round_ in range(rounds):
            if await self._already_there(host, sub.prompt_id, since):
                log.info("prompt %s is already on %s: not sent again", sub.prompt_id, host.label)
                return False
            if graph is None:
                graph = await self._graph(host, sub, work)
            body = {"prompt": graph, "client_id": sub.client_id, "prompt_id": sub.prompt_id}
            try:
                response = await host.client.post_prompt(body)
            except BackendUnavailable as exc:
                if round_ == rounds - 1:
                    raise
                delay = full_jitter(
                    self._rng, round_, base=self.settings.retry_base, cap=self.settings.retry_cap
                )
                log.warning("%s; looking again in %.2fs before any resend", exc, delay)
                await self._sleep(delay)
                since = loop.time()  # a look from before that POST would prove nothing
                continue
            self._read_answer(response, host, work.workflow)
            return True
        raise AssertionError("unreachable")  # pragma: no cover

    async def _already_there(self, host: Host, prompt_id: str, since: float) -> bool:
        """In the host's queue (a look sent after ``since``) or, after that, its history."""
        snapshot = await host.queue(not_before=since)
        return snapshot.holds(prompt_id) or await host.client.history(prompt_id) is not None

    async def _graph(self, host: Host, sub: Submission, work: _Work) -> Graph:
        filled = dict(work.values)
        reference = work.reference
        if reference is not None:
            extension = _EXTENSIONS.get(reference.content_type)
            if extension is None:
                raise InvalidRequest(
                    f"a {reference.content_type} reference cannot be sent to ComfyUI",
                    service=host.service,
                )
            # A name derived from the ticket: a resumed submission overwrites the same file.
            name = f"imagine-bot-{sub.prompt_id}.{extension}"
            filled[Field.REFERENCE] = await host.client.upload_image(
                name, reference.data, reference.content_type
            )
        return work.workflow.fill(filled)

    def _read_answer(self, response: httpx.Response, host: Host, workflow: Workflow) -> None:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if status not in (200, 400) or not isinstance(body, dict):
            raise UnexpectedResponse(f"unexpected HTTP {status} for POST /prompt")
        if status == 200 and not body.get("node_errors"):
            return
        refused = refusal(
            body,
            host=host.label,
            node_title=workflow.node_title,
            checkpoint=self.settings.checkpoint,
        )
        if status == 400:
            raise refused
        # ComfyUI runs the output nodes that validated and says why it dropped the others.
        log.warning("%s queued %s but refused part of it: %s", host.label, workflow.source, refused)

    async def _stop(self, host: Host, prompt_id: str) -> bool:
        stopped = False
        for _ in range(_CANCEL_ROUNDS):
            snapshot = await host.queue(not_before=asyncio.get_running_loop().time())
            if prompt_id in snapshot.running:
                await host.client.interrupt(prompt_id)
                stopped = True
            if prompt_id not in snapshot.pending:
                break
            # Deleted, then looked at again: it may have started meanwhile, or be queued twice.
            await host.client.delete_pending(prompt_id)
            stopped = True
        return stopped

    async def _probe(self, host: Host) -> str | None:
        """None when the host answered, else what is wrong with it."""
        try:
            await host.client.system_stats()
        except AuthRefused:
            host.unreachable()
            host.auth_refused = True
            return f"refused the bot's {AUTHORIZATION_SETTING}"
        except BackendError as exc:
            host.unreachable()
            return f"is not answering ({type(exc).__name__})"
        host.answered()
        return None

    async def _tagged(self, host: Host, call: Callable[[], Awaitable[T]]) -> T:
        """Run ``call``; any backend error leaves naming the host and the setting to check."""
        try:
            return await call()
        except BackendError as exc:
            host.failed(exc)
            exc.service = exc.service or host.service
            exc.setting = exc.setting or (
                AUTHORIZATION_SETTING if isinstance(exc, AuthRefused) else URLS_SETTING
            )
            raise


def _denoise(reference: ReferenceImage) -> float:
    """How much of a reference the sampler replaces: 1 − its weight (0 keeps it all)."""
    return round(min(max(1.0 - reference.weight, 0.0), 1.0), 2)
