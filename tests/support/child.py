"""Run ``imagine-bot`` in a child process and read its output line by line."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class Child:
    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)

    @classmethod
    async def start(cls, *args: str, env: Mapping[str, str]) -> Child:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.cli",
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        )
        return cls(process)

    async def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()

    async def expect(self, needle: str, timeout: float = 20.0) -> str:
        """Read output until a line containing ``needle`` arrives; return that line."""
        assert self.process.stdout is not None
        for line in self.lines:
            if needle in line:
                return line
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.process.stdout.readline()
                if not raw:
                    raise AssertionError(
                        f"exited before {needle!r}; output:\n" + "".join(self.lines)
                    )
                line = raw.decode()
                self.lines.append(line)
                if needle in line:
                    return line

    async def finish(self, timeout: float = 20.0) -> int:
        """Close stdin (EOF) and wait for the exit, collecting the rest of the output."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        return await self._collect(timeout)

    async def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM (what Docker sends) and wait for the exit, collecting the output."""
        self.process.terminate()
        return await self._collect(timeout)

    async def _collect(self, timeout: float) -> int:
        assert self.process.stdout is not None
        async with asyncio.timeout(timeout):
            rest = await self.process.stdout.read()
            self.lines.extend(rest.decode().splitlines(keepends=True))
            return await self.process.wait()

    async def kill(self) -> None:
        self.process.kill()  # SIGKILL: no clean-up of any kind
        await self.process.wait()

    @property
    def output(self) -> str:
        return "".join(self.lines)
