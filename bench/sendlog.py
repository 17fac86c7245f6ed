"""The bot's own record of when it sent each status request (``GET /api/files/{id}``): a
transport wrapped around the real one, so the peak is counted where the rate cap acts, not
where the emulator, on the same loaded machine, happens to read the requests."""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Sequence

import httpx

STATUS_PREFIX = "/api/files/"
COMFYUI_STATUS_PREFIXES = ("/history/", "/api/history/", "/queue", "/api/queue")


class SendLog(httpx.AsyncBaseTransport):
    """Passes every request to ``inner``; notes the monotonic time each status request (a
    ``GET`` whose path starts with one of ``prefixes``) went to it."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, prefixes: tuple[str, ...] = (STATUS_PREFIX,)
    ) -> None:
        self._inner = inner
        self._prefixes = prefixes
        self.status_sent: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.startswith(self._prefixes):
            self.status_sent.append(time.monotonic())
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def peak_per_second(
    times: Sequence[float], start: float = -math.inf, end: float = math.inf
) -> float:
    """The most of ``times`` (sorted) in any 1 s window within ``start``..``end`` (NaN if
    none fall there)."""
    chosen = times[bisect.bisect_left(times, start) : bisect.bisect_right(times, end)]
    if not chosen:
        return math.nan
    return float(max(bisect.bisect_left(chosen, t + 1.0) - i for i, t in enumerate(chosen)))
