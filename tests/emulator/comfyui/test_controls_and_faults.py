"""Test controls (hold/release, fail_next, restart, counters) and fault knobs, seen by a client."""

from __future__ import annotations

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from emulator.comfyui import ComfyEmulator

from .conftest import StartComfy
from .probe import Probe
from .workflows import solid, txt2img

CKPT = "emulator-sd15.safetensors"


async def test_manual_completion_holds_the_sampler_until_released(start_comfy: StartComfy) -> None:
    emu = await start_comfy(manual_completion=True)
    async with httpx.AsyncClient(base_url=emu.base_url, trust_env=False) as http:
        probe = Probe(emu.base_url, http)
        async with probe.socket("a") as a:
            pid = probe.new_id("p")
            await probe.post_prompt(
                txt2img(CKPT, "held", steps=4), client_id=a.client_id, prompt_id=pid
            )
            await a.wait_type("progress", prompt_id=pid, value=1)
            queue = (await http.get("/queue")).json()
            assert [item[1] for item in queue["queue_running"]] == [pid]
            assert (await http.get(f"/history/{pid}")).json() == {}
            assert emu.release(pid)
            await a.job_done(pid)
        assert (await probe.until_history(pid))[pid]["status"]["status_str"] == "success"
    assert emu.counters.prompts_executed == 1


async def test_fail_next_ends_the_job_with_an_execution_error(
    comfy: ComfyEmulator, probe: Probe
) -> None:
    comfy.fail_next("CUDA out of memory")
    async with probe.socket("a") as a:
        pid = probe.new_id("p")
        await probe.post_prompt(txt2img(CKPT, "x"), client_id=a.client_id, prompt_id=pid)
        await a.job_done(pid)
        [error] = [m["data"] for m in a.messages if m.get("type") == "execution_error"]
    assert (error["node_id"], error["node_type"]) == ("3", "KSampler")
    assert error["exception_message"].startswith("CUDA out of memory")
    assert (await probe.until_history(pid))[pid]["status"]["completed"] is False


async def test_restart_loses_queue_and_history_keeps_output_files(
    comfy: ComfyEmulator, probe: Probe
) -> None:
    pid = probe.new_id("p")
    await probe.post_prompt(solid(), prompt_id=pid)
    image = (await probe.until_history(pid))[pid]["outputs"]["3"]["images"][0]
    async with probe.socket("a") as a:
        await comfy.restart()
        await a.closed.wait()
    assert (await probe.http.get(f"/history/{pid}")).json() == {}
    assert (await probe.http.get("/queue")).json() == {"queue_running": [], "queue_pending": []}
    assert (await probe.http.get("/view", params=image)).status_code == 200
    again = probe.new_id("q")
    await probe.post_prompt(solid(), prompt_id=again)
    assert (await probe.until_history(again))[again]["outputs"]["3"]["images"][0] != image


async def test_events_of_a_client_without_a_socket_are_lost(
    comfy: ComfyEmulator, probe: Probe
) -> None:
    async with probe.socket("other") as other:
        pid = probe.new_id("p")
        await probe.post_prompt(txt2img(CKPT, "x"), client_id="nobody-listens", prompt_id=pid)
        await probe.until_history(pid)
        await probe.http.post("/queue", json={"clear": True})
        end = await other.wait_type("status", start=len(other.messages) - 1)
        kinds = {m.get("type") for m in other.messages[: end + 1]}
    assert kinds == {"status"}
    assert comfy.counters.requests["POST /prompt"] == 1


async def test_required_authorization_is_demanded_and_never_echoed(start_comfy: StartComfy) -> None:
    emu = await start_comfy(required_authorization="Bearer s3cret")
    async with httpx.AsyncClient(base_url=emu.base_url, trust_env=False) as http:
        refused = await http.get("/queue", headers={"Authorization": "Bearer wrong"})
        allowed = await http.get("/queue", headers={"Authorization": "Bearer s3cret"})
        probe = Probe(emu.base_url, http, headers={"Authorization": "Bearer wrong"})
        with pytest.raises(InvalidStatus) as ws_refused:
            async with probe.socket("a"):
                pass
    assert (refused.status_code, allowed.status_code) == (401, 200)
    assert ws_refused.value.response.status_code == 401
    assert "s3cret" not in refused.text and "s3cret" not in repr(emu.config)


@pytest.mark.parametrize("knob", [{"ws_available": False}, {"http_5xx_rate": 1.0}])
async def test_unavailability_knobs(start_comfy: StartComfy, knob: dict[str, object]) -> None:
    emu = await start_comfy(**knob)
    async with httpx.AsyncClient(base_url=emu.base_url, trust_env=False) as http:
        probe = Probe(emu.base_url, http)
        if "ws_available" in knob:
            with pytest.raises(InvalidStatus) as refused:
                async with probe.socket("a"):
                    pass
            assert refused.value.response.status_code == 503
            assert (await http.get("/queue")).status_code == 200
        else:
            assert (await http.get("/queue")).status_code == 503
            async with probe.socket("a"):
                pass
    assert emu.counters.ws_open == 0


async def test_accept_then_close_and_duplicates(start_comfy: StartComfy) -> None:
    closing = await start_comfy(ws_accept_then_close=True)
    async with httpx.AsyncClient(base_url=closing.base_url, trust_env=False) as http:
        probe = Probe(closing.base_url, http)
        async with probe.socket("a") as a:  # the status arrives, then the close
            await a.closed.wait()
    twice = await start_comfy(ws_duplicate_rate=1.0)
    async with httpx.AsyncClient(base_url=twice.base_url, trust_env=False) as http:
        probe = Probe(twice.base_url, http)
        async with probe.socket("a") as a:
            await a.wait_type("status", start=1)
            assert a.messages[0] == a.messages[1]


async def test_drop_rate_one_loses_every_job_event(start_comfy: StartComfy) -> None:
    emu = await start_comfy()
    async with httpx.AsyncClient(base_url=emu.base_url, trust_env=False) as http:
        probe = Probe(emu.base_url, http)
        async with probe.socket("a") as a:
            emu.config.ws_drop_rate = 1.0
            pid = probe.new_id("p")
            await probe.post_prompt(solid(), client_id=a.client_id, prompt_id=pid)
            await probe.until_history(pid)
            emu.config.ws_drop_rate = 0.0
            await probe.http.post("/queue", json={"clear": True})
            await a.wait_type("status", start=1)
            assert [m["type"] for m in a.messages] == ["status", "status"]


async def test_a_queued_prompt_released_early_passes_its_hold_and_fail_raises(
    start_comfy: StartComfy,
) -> None:
    emu = await start_comfy(manual_completion=True)
    async with httpx.AsyncClient(base_url=emu.base_url, trust_env=False) as http:
        probe = Probe(emu.base_url, http)
        first, second, third = probe.new_id("a"), probe.new_id("b"), probe.new_id("c")
        for pid, text in ((first, "held"), (second, "released early"), (third, "failed")):
            await probe.post_prompt(txt2img(CKPT, text, steps=3), prompt_id=pid)
        await probe.until_queue(lambda q: [i[1] for i in q["queue_running"]] == [first])
        assert emu.release(second) and emu.fail(third, "the GPU fell over", "RuntimeError")
        assert (emu.state_of(first), emu.state_of(second)) == ("running", "pending")
        assert not emu.release("no-such-prompt")
        assert emu.release(first)
        await emu.wait_done(third)
        statuses = {
            pid: (await probe.until_history(pid))[pid]["status"] for pid in (first, second, third)
        }
    assert [statuses[p]["status_str"] for p in (first, second, third)] == [
        "success", "success", "error"
    ]  # fmt: skip
    [error] = [d for kind, d in statuses[third]["messages"] if kind == "execution_error"]
    assert (error["node_type"], error["exception_type"]) == ("KSampler", "RuntimeError")
    assert error["exception_message"] == "the GPU fell over\n"
    assert emu.state_of(first) == "done" and emu.prompt_of(first) is not None


async def test_failure_rate_and_what_the_counters_say_was_asked(start_comfy: StartComfy) -> None:
    emu = await start_comfy(failure_rate=1.0)
    async with httpx.AsyncClient(base_url=emu.base_url, trust_env=False) as http:
        probe = Probe(emu.base_url, http)
        pid = probe.new_id("p")
        await probe.post_prompt(txt2img(CKPT, "a doomed fox"), prompt_id=pid)
        status = (await probe.until_history(pid))[pid]["status"]
        await probe.post_prompt(solid(), prompt_id=probe.new_id("q"))
        await probe.post_prompt({"1": {"class_type": "NoSuchNode", "inputs": {}}})
    [error] = [d for kind, d in status["messages"] if kind == "execution_error"]
    assert error["exception_type"] == "torch.OutOfMemoryError"
    assert emu.counters.generations == {"a doomed fox": 1}  # the model-free one samples nothing
    assert emu.counters.outputs == {"SaveImage": 2}  # refused prompts are not queued
