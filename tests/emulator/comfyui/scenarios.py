"""Scenarios run alike against a real ComfyUI and the emulator; each returns what a client
observed, normalised (chosen ids aliased, timestamps and counters blanked).

A "slow" job is a KSampler with ``SLOW_STEPS`` steps: it never finishes on its own within
a test (real CPU: seconds per step; emulator tests: ``step_time`` large enough) and each
scenario interrupts it. Waits are on events, never on time.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from PIL import Image

from bot.media.video import container_of, first_frame

from .probe import Message, Probe, WsRecorder, collapse, shape, ticks_as_shape
from .workflows import clip, img2img, solid, txt2img

SLOW_STEPS = 10000
Observation = dict[str, Any]
Scenario = Callable[[Probe], Awaitable[Observation]]
SUPPORTED_NODES = (
    "CheckpointLoaderSimple", "CLIPTextEncode", "EmptyLatentImage", "KSampler", "VAEDecode",
    "VAEEncode", "LoadImage", "ImageScaleBy", "ImageScale", "EmptyImage", "LatentUpscaleBy",
    "SaveImage", "PreviewImage", "ImageBatch", "CreateVideo", "SaveVideo",
)  # fmt: skip


async def checkpoint(probe: Probe) -> str:
    info = (await probe.http.get("/object_info/CheckpointLoaderSimple")).json()
    names = info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0]
    assert names, "the server has no checkpoint"
    return str(names[0])


async def idle(probe: Probe) -> None:
    """Wait until nothing runs or waits, then run one tiny unique job: ComfyUI keeps the
    outputs of the last prompt's nodes cached, so this makes each scenario start cold."""
    await probe.until_queue(lambda q: not q["queue_running"] and not q["queue_pending"])
    flush = str(uuid.uuid4())
    color = uuid.UUID(flush).int % 0xFFFFFF
    await probe.post_prompt(solid(color=color, width=8, height=8, batch=1), prompt_id=flush)
    await probe.until_history(flush)


def events(probe: Probe, messages: list[Message]) -> list[Message]:
    return collapse([ticks_as_shape(probe.normalise(m)) for m in messages])


def kinds(messages: list[Message]) -> list[str]:
    return [str(m.get("type", f"binary:{m.get('binary')}")) for m in messages]


async def barrier(probe: Probe, *sockets: WsRecorder) -> list[int]:
    """Broadcast a ``status`` (an empty queue clear) and wait for it on every socket: what
    a socket got before it is all it will get for what came before."""
    starts = [len(s.messages) for s in sockets]
    await probe.http.post("/queue", json={"clear": True})
    return [await s.wait_type("status", start=i) for s, i in zip(sockets, starts, strict=True)]


async def txt2img_events(probe: Probe) -> Observation:
    """One txt2img job: the submitter's events, a bystander's, history, the image."""
    await idle(probe)
    ckpt = await checkpoint(probe)
    async with probe.socket("a") as a, probe.socket("b") as b:
        pid = probe.new_id("p1")
        posted = await probe.post_prompt(
            txt2img(ckpt, "a red fox", seed=5), client_id=a.client_id, prompt_id=pid
        )
        done = await a.job_done(pid)
        _, end_b = await barrier(probe, a, b)
        history = await probe.until_history(pid)
        image = history[pid]["outputs"]["9"]["images"][0]
        view = await probe.http.get("/view", params=image)
        with Image.open(io.BytesIO(view.content)) as picture:
            size = picture.size
        again = probe.new_id("p2")
        await probe.post_prompt(
            txt2img(ckpt, "a red fox", seed=5), client_id=a.client_id, prompt_id=again
        )
        done_again = await a.job_done(again, start=done + 1)
        return {
            "post": {"status": posted.status_code, "body": probe.normalise(posted.json())},
            "submitter": events(probe, a.messages[: done + 1]),
            "bystander": events(probe, b.messages[:end_b]),
            "history": probe.normalise(history),
            "view": {
                "status": view.status_code,
                "content_type": view.headers.get("content-type"),
                "disposition": probe.normalise(view.headers.get("content-disposition")),
                "size": list(size),
            },
            "cached_resubmission": events(probe, a.messages[done + 1 : done_again + 1]),
        }


async def model_free(probe: Probe) -> Observation:
    """EmptyImage → ImageScaleBy → SaveImage + PreviewImage; temp and output files."""
    await idle(probe)
    async with probe.socket("a") as a:
        pid = probe.new_id("p1")
        posted = await probe.post_prompt(
            solid(color=0xFF8801, preview=True), client_id=a.client_id, prompt_id=pid
        )
        done = await a.job_done(pid)
        history = await probe.until_history(pid)
        views = {}
        for node in ("3", "4"):
            image = history[pid]["outputs"][node]["images"][0]
            response = await probe.http.get("/view", params=image)
            with Image.open(io.BytesIO(response.content)) as picture:
                views[node] = {
                    "status": response.status_code,
                    "content_type": response.headers.get("content-type"),
                    "size": list(picture.size),
                    "pixel": list(picture.convert("RGB").getpixel((0, 0))),  # type: ignore[arg-type]
                }
        return {
            "post": {"status": posted.status_code, "body": probe.normalise(posted.json())},
            "submitter": events(probe, a.messages[: done + 1]),
            "outputs": probe.normalise(history[pid]["outputs"]),
            "views": views,
        }


def _bad(prompt: dict[str, Any], node: str, **inputs: Any) -> dict[str, Any]:
    prompt[node]["inputs"].update(inputs)
    return prompt


async def validation_errors(probe: Probe) -> Observation:
    """Each class of refusal of ``POST /prompt``, and one prompt that is half valid."""
    await idle(probe)
    ckpt = await checkpoint(probe)
    missing_input = txt2img(ckpt, "x")
    del missing_input["3"]["inputs"]["seed"]
    no_class = solid()
    del no_class["2"]["class_type"]
    half_valid = solid(color=0x123456)
    half_valid["5"] = {"class_type": "SaveImage", "inputs": {"images": ["404", 0]}}
    bad_link = solid()
    bad_link["2"]["inputs"]["image"] = ["1", 0, 1]
    cases: dict[str, Any] = {
        "unknown_class": {"1": {"class_type": "NoSuchNode", "inputs": {}}},
        "missing_class_type": no_class,
        "no_outputs": {"1": solid()["1"]},
        "missing_required_input": missing_input,
        "link_to_unknown_node": _bad(solid(), "3", images=["99", 0]),
        "wrong_link_type": _bad(txt2img(ckpt, "x"), "8", samples=["4", 2]),
        "bad_link_shape": bad_link,
        "above_max": _bad(txt2img(ckpt, "x"), "3", steps=10001, cfg=100.5),
        "below_min": _bad(txt2img(ckpt, "x"), "5", width=8),
        "not_in_list": _bad(txt2img(ckpt, "x"), "3", sampler_name="warp", scheduler="nope"),
        "unknown_checkpoint": _bad(txt2img(ckpt, "x"), "4", ckpt_name="missing.safetensors"),
        "not_an_int": _bad(txt2img(ckpt, "x"), "3", seed="abc"),
        "unknown_image": img2img(ckpt, "no-such-image.png", "x"),
        "half_valid": half_valid,
    }
    out: dict[str, Any] = {}
    for name, prompt in cases.items():
        response = await probe.post_prompt(prompt)
        body = probe.normalise(response.json())
        if response.status_code == 200:
            body["prompt_id"] = "<generated>"
        out[name] = {"status": response.status_code, "body": body}
    for name, body in {"no_prompt": {}, "not_a_dict": None}.items():
        response = (
            await probe.http.post("/prompt", json=body)
            if body is not None
            else (await probe.http.post("/prompt", content=b"{not json"))
        )
        out[name] = {
            "status": response.status_code,
            "content_type": response.headers.get("content-type", "").split(";")[0],
            "body": response.json() if response.status_code == 400 else response.text,
        }
    return out


async def queue_and_interrupt(probe: Probe) -> Observation:
    """Running and pending jobs in /queue and /history; delete, targeted and global
    interrupts; a job without a client id (its interrupt reaches every socket)."""
    await idle(probe)
    ckpt = await checkpoint(probe)
    slow = txt2img(ckpt, "slow", steps=SLOW_STEPS)
    out: dict[str, Any] = {}
    async with probe.socket("a") as a, probe.socket("b") as b:
        run1, pend2, pend3 = probe.new_id("run1"), probe.new_id("pend2"), probe.new_id("pend3")
        await probe.post_prompt(slow, client_id=a.client_id, prompt_id=run1)
        await a.wait_type("progress", prompt_id=run1)
        await probe.post_prompt(solid(), prompt_id=pend2)
        await probe.post_prompt(solid(color=1), client_id=b.client_id, prompt_id=pend3)
        out["queue"] = probe.normalise((await probe.http.get("/queue")).json())
        out["prompt"] = (await probe.http.get("/prompt")).json()
        out["history_running"] = (await probe.http.get(f"/history/{run1}")).json()
        out["history_pending"] = (await probe.http.get(f"/history/{pend2}")).json()
        out["delete"] = await probe.json("POST", "/queue", json={"delete": [pend3, "unknown"]})
        out["queue_after_delete"] = probe.normalise((await probe.http.get("/queue")).json())
        out["interrupt_pending"] = await probe.json("POST", "/interrupt", json={"prompt_id": pend2})
        out["still_running"] = probe.normalise(
            (await probe.http.get("/queue")).json()["queue_running"][0][1]
        )
        out["interrupt_target"] = await probe.json("POST", "/interrupt", json={"prompt_id": run1})
        done = await a.job_done(run1)
        history = await probe.until_history(run1)
        out["interrupted_history_status"] = probe.normalise(history[run1]["status"])
        out["interrupted_outputs"] = history[run1]["outputs"]
        out["submitter"] = events(probe, a.messages[: done + 1])
        await probe.until_history(pend2)
        end_a, end_b = await barrier(probe, a, b)
        out["after_submitter"] = events(probe, a.messages[done + 1 : end_a])
        out["bystander"] = events(probe, b.messages[:end_b])
        anon = probe.new_id("anon")
        start_a, start_b = len(a.messages), len(b.messages)
        await probe.post_prompt(slow, prompt_id=anon)
        await probe.until_queue(lambda q: bool(q["queue_running"]))
        out["interrupt_global"] = await probe.json("POST", "/interrupt")
        await probe.until_history(anon)
        end_a, end_b = await barrier(probe, a, b)
        out["anonymous_job_a"] = events(probe, a.messages[start_a:end_a])
        out["anonymous_job_b"] = events(probe, b.messages[start_b:end_b])
        out["interrupt_idle"] = await probe.json("POST", "/interrupt", content=b"")
        listed = (await probe.http.get("/history?max_items=1")).json()
        out["history_list_shape"] = [shape(entry) for entry in listed.values()]
    return out


async def reused_prompt_id(probe: Probe) -> Observation:
    """The same client-chosen ``prompt_id`` twice: after completion and while pending."""
    await idle(probe)
    ckpt = await checkpoint(probe)
    out: dict[str, Any] = {}
    async with probe.socket("a") as a:
        same = probe.new_id("same")
        first = await probe.post_prompt(
            solid(color=0x00FF00), client_id=a.client_id, prompt_id=same
        )
        done = await a.job_done(same)
        await probe.until_history(same)
        second = await probe.post_prompt(
            solid(color=0x0000FF), client_id=a.client_id, prompt_id=same
        )
        done2 = await a.job_done(same, start=done + 1)
        history = (await probe.http.get(f"/history/{same}")).json()
        out["posts"] = [probe.normalise(r.json()) for r in (first, second)]
        out["second_run"] = kinds(events(probe, a.messages[done + 1 : done2 + 1]))
        out["history_color"] = history[same]["prompt"][2]["1"]["inputs"]["color"]
        out["in_history_list"] = same in (await probe.http.get("/history")).json()

        slow, twice = probe.new_id("slow"), probe.new_id("twice")
        await probe.post_prompt(txt2img(ckpt, "slow", steps=SLOW_STEPS), client_id=a.client_id,
                                prompt_id=slow)  # fmt: skip
        await a.wait_type("progress", prompt_id=slow)
        for color in (1, 2):
            await probe.post_prompt(solid(color=color), client_id=a.client_id, prompt_id=twice)
        queue = (await probe.http.get("/queue")).json()
        out["pending_twice"] = [
            [probe.normalise(item[1]), item[2]["1"]["inputs"]["color"]]
            for item in queue["queue_pending"]
        ]
        await probe.http.post("/queue", json={"delete": [twice]})
        queue = (await probe.http.get("/queue")).json()
        out["pending_after_one_delete"] = [
            [probe.normalise(item[1]), item[2]["1"]["inputs"]["color"]]
            for item in queue["queue_pending"]
        ]
        await probe.http.post("/interrupt")
        await probe.until_history(twice)
        out["history_after"] = (await probe.http.get(f"/history/{twice}")).json()[twice]["prompt"][
            2
        ]["1"]["inputs"]["color"]
    return out


def _png(color: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


async def upload_and_img2img(probe: Probe) -> Observation:
    """Uploads (duplicate, renamed, overwrite, subfolder), /view of inputs, then img2img."""
    await idle(probe)
    ckpt = await checkpoint(probe)
    name = f"{probe.new_id('upload')}.png"
    alias = probe.aliases.pop(name.removesuffix(".png"))
    probe.aliases[name] = f"{alias}.png"
    probe.aliases[name.replace(".png", " (1).png")] = f"{alias[:-1]} (1)>.png"
    red, blue = _png((255, 0, 0)), _png((0, 0, 255))

    async def upload(data: bytes, **fields: str) -> Any:
        response = await probe.http.post(
            "/upload/image", files={"image": (name, data, "image/png")}, data=fields
        )
        return {"status": response.status_code, "body": probe.normalise(response.json())}

    out: dict[str, Any] = {
        "first": await upload(red),
        "same_bytes": await upload(red),
        "other_bytes": await upload(blue),
        "overwrite": await upload(blue, overwrite="true"),
        "subfolder": await upload(red, subfolder="refs"),
        "temp_type": await upload(red, type="temp"),
    }
    no_file = await probe.http.post("/upload/image", data={"overwrite": "true"})
    out["no_file"] = {"status": no_file.status_code, "text": no_file.text}
    view = await probe.http.get("/view", params={"filename": name, "type": "input"})
    out["view_input"] = {"status": view.status_code, "type": view.headers.get("content-type")}
    listed = (await probe.http.get("/object_info/LoadImage")).json()
    out["listed"] = name in listed["LoadImage"]["input"]["required"]["image"][0]
    async with probe.socket("a") as a:
        pid = probe.new_id("p1")
        posted = await probe.post_prompt(
            img2img(ckpt, name, "a blue square"), client_id=a.client_id, prompt_id=pid
        )
        sub = probe.new_id("p2")
        await probe.post_prompt(
            img2img(ckpt, f"refs/{name}", "a red square"), client_id=a.client_id, prompt_id=sub
        )
        await a.job_done(sub)
        history = await probe.until_history(pid)
    out["post"] = {"status": posted.status_code, "body": probe.normalise(posted.json())}
    out["outputs"] = probe.normalise(history[pid]["outputs"])
    out["subfolder_status"] = (await probe.until_history(sub))[sub]["status"]["status_str"]
    return out


async def execution_error(probe: Probe) -> Observation:
    """A node that raises while running (SaveImage outside the output folder)."""
    await idle(probe)
    async with probe.socket("a") as a:
        pid = probe.new_id("p1")
        await probe.post_prompt(
            solid(color=0xABCDEF, prefix="../escape"), client_id=a.client_id, prompt_id=pid
        )
        done = await a.job_done(pid)
        history = await probe.until_history(pid)
        messages = events(probe, a.messages[: done + 1])
        for message in messages:
            if message.get("type") == "execution_error":
                data = message["data"]
                data["exception_message"] = data["exception_message"].split("\n")[0]
                data["traceback"] = shape(data["traceback"])
                data["current_inputs"] = shape(data["current_inputs"])
        status = probe.normalise(history[pid]["status"])
        for kind, data in status["messages"]:
            if kind == "execution_error":
                data["exception_message"] = data["exception_message"].split("\n")[0]
                data["traceback"] = shape(data["traceback"])
                data["current_inputs"] = shape(data["current_inputs"])
        return {"submitter": messages, "status": status, "outputs": history[pid]["outputs"]}


async def reconnect(probe: Probe) -> Observation:
    """The submitter's socket drops mid-job; the same clientId reconnects."""
    await idle(probe)
    ckpt = await checkpoint(probe)
    client_id = probe.new_id("c")
    pid = probe.new_id("p1")
    async with probe.socket("c", client_id) as first:
        await probe.post_prompt(
            txt2img(ckpt, "slow", steps=SLOW_STEPS), client_id=client_id, prompt_id=pid
        )
        await first.wait_type("progress", prompt_id=pid)
    async with probe.socket("c", client_id) as again:
        await again.wait_type("progress", prompt_id=pid)
        await probe.http.post("/interrupt", json={"prompt_id": pid})
        done = await again.job_done(pid)
        return {"after_reconnect": events(probe, again.messages[: done + 1])}


async def video(probe: Probe) -> Observation:
    """A clip without a model (EmptyImage frames → CreateVideo → SaveVideo): the events,
    the history's ``{"images": [...], "animated": [true]}``, the MP4 /view serves (the
    prompt in its metadata); then what SaveVideo refuses only once it runs."""
    await idle(probe)
    out: dict[str, Any] = {}
    async with probe.socket("a") as a:
        pid = probe.new_id("p1")
        sent = clip(color=0x3366CD)
        posted = await probe.post_prompt(sent, client_id=a.client_id, prompt_id=pid)
        done = await a.job_done(pid)
        history = await probe.until_history(pid)
        item = history[pid]["outputs"]["3"]["images"][0]
        view = await probe.http.get("/view", params=item)
        frame = await first_frame(view.content)
        out["post"] = {"status": posted.status_code, "body": probe.normalise(posted.json())}
        out["submitter"] = events(probe, a.messages[: done + 1])
        out["outputs"] = probe.normalise(history[pid]["outputs"])
        out["view"] = {
            "status": view.status_code,
            "content_type": view.headers.get("content-type"),
            "disposition": probe.normalise(view.headers.get("content-disposition")),
            "container": container_of(view.content),
            "size": [frame.width, frame.height],
            "duration": frame.duration,
            "prompt_in_metadata": json.dumps(sent).encode() in view.content,
        }
    refused = {
        "bad_format": clip(color=0x3366CE, container="webm"),
        "bad_codec": clip(color=0x3366CF, codec="vp9"),
        "odd_size": clip(color=0x3366D0, width=63, height=47),
        "outside_output": clip(color=0x3366D1, prefix="../escape"),
    }
    for name, prompt in refused.items():
        pid = probe.new_id(name)
        answer = await probe.post_prompt(prompt, prompt_id=pid)
        entry = (await probe.until_history(pid))[pid]
        [error] = [data for kind, data in entry["status"]["messages"] if kind == "execution_error"]
        out[name] = {
            "post": answer.status_code,
            "node": [error["node_id"], error["node_type"]],
            "exception": [error["exception_message"].split("\n")[0], error["exception_type"]],
            "outputs": entry["outputs"],
        }
    return out


async def introspection(probe: Probe) -> Observation:
    """``/object_info`` of the supported nodes, ``/system_stats`` shape, /api prefix, 404s."""
    info = (await probe.http.get("/object_info")).json()
    nodes = {name: info[name] for name in SUPPORTED_NODES}
    for name in ("CheckpointLoaderSimple", "LoadImage"):
        field = "ckpt_name" if name == "CheckpointLoaderSimple" else "image"
        nodes[name]["input"]["required"][field][0] = "<files>"
    single = (await probe.http.get("/object_info/KSampler")).json()
    missing = (await probe.http.get("/object_info/NoSuchNode")).json()
    stats = (await probe.http.get("/system_stats")).json()
    api = await probe.http.get("/api/prompt")
    view_404 = await probe.http.get("/view", params={"filename": "none.png", "type": "output"})
    view_bad = await probe.http.get("/view", params={"filename": "../x.png"})
    view_type = await probe.http.get("/view", params={"filename": "x.png", "type": "bogus"})
    view_sub = await probe.http.get("/view", params={"filename": "x.png", "subfolder": "../.."})
    return {
        "nodes": nodes,
        "single_keys": sorted(single),
        "missing": missing,
        "system_stats": shape(stats),
        "api_prefix": {"status": api.status_code, "body": api.json()},
        "view_errors": [[r.status_code, r.text] for r in (view_404, view_bad, view_type, view_sub)],
    }


SCENARIOS: dict[str, Scenario] = {
    "txt2img_events": txt2img_events,
    "model_free": model_free,
    "validation_errors": validation_errors,
    "queue_and_interrupt": queue_and_interrupt,
    "reused_prompt_id": reused_prompt_id,
    "upload_and_img2img": upload_and_img2img,
    "execution_error": execution_error,
    "reconnect": reconnect,
    "video": video,
    "introspection": introspection,
}
