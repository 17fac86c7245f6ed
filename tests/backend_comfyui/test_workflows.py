"""A team's own workflow: mapped at start-up (by title marks or from its one sampler), or
refused then with a message naming the missing piece; never guessed at run time."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.backend.comfyui import ComfyUIBackend, WorkflowError
from bot.backend.comfyui.workflows import TXT2IMG, Field, Slot, map_workflow
from bot.backend.types import OutcomeStatus
from emulator.comfyui import ComfyEmulator
from tests.emulator.comfyui.workflows import txt2img
from tests.support.comfyui import CHECKPOINT, MemoryValues, fast_settings, prompt_id_of

from .conftest import MakeBackend
from .helpers import request, submitted

Graph = dict[str, dict[str, Any]]


def _exported() -> Graph:
    """ComfyUI's default workflow as "Save (API Format)" writes it: no imagine: titles."""
    graph = txt2img(CHECKPOINT, "a bottle", prefix="team")
    for node in graph.values():
        node["_meta"] = {"title": node["class_type"]}
    return graph


def _write(tmp_path: Path, graph: object) -> str:
    path = tmp_path / "team.json"
    path.write_text(json.dumps(graph))
    return str(path)


async def test_an_exported_workflow_is_mapped_from_its_sampler_and_runs(
    comfy: ComfyEmulator, make_backend: MakeBackend, tmp_path: Path
) -> None:
    backend = await make_backend(workflow_path=_write(tmp_path, _exported()))
    generation = request(
        "a red barn", negative_prompt="fog", seed=9, steps=2, width=96, height=64, count=2
    )

    handle = await submitted(backend, "team-job", generation)
    outcome = await backend.wait(handle, timeout=5)

    assert outcome.status is OutcomeStatus.COMPLETED
    pictures = [await backend.download(r) for r in outcome.results]
    assert [(p.width, p.height) for p in pictures] == [(96, 64), (96, 64)]
    assert all("team_" in str(r.url) for r in outcome.results)  # its own SaveImage prefix
    pid = prompt_id_of(handle)
    async with httpx.AsyncClient(base_url=comfy.base_url, trust_env=False) as http:
        sent = (await http.get(f"/history/{pid}")).json()[pid]["prompt"][2]
    assert sent["6"]["inputs"]["text"] == "a red barn"
    assert sent["7"]["inputs"]["text"] == "fog"
    assert {k: sent["3"]["inputs"][k] for k in ("seed", "steps")} == {"seed": 9, "steps": 2}
    assert sent["5"]["inputs"] == {"width": 96, "height": 64, "batch_size": 2}
    assert sent["4"]["inputs"] == {"ckpt_name": CHECKPOINT}  # not marked: left as exported


def test_title_marks_map_what_the_structure_cannot() -> None:
    graph = _exported()
    refiner = copy.deepcopy(graph["3"])  # a second sampler: structure is ambiguous now
    refiner["inputs"]["latent_image"] = ["3", 0]
    graph["13"] = refiner
    graph["8"]["inputs"]["samples"] = ["13", 0]
    graph["6"]["_meta"] = {"title": "Positive imagine:prompt"}
    graph["7"]["_meta"] = {"title": "imagine:negative"}
    graph["3"]["_meta"] = {"title": "Base imagine:sampler"}
    graph["5"]["_meta"] = {"title": "imagine:latent"}
    graph["4"]["_meta"] = {"title": "imagine:checkpoint"}

    mapped = map_workflow(graph, required=TXT2IMG, source="test", custom=True)

    assert mapped.slots == {
        Field.PROMPT: Slot("6", "text"),
        Field.NEGATIVE: Slot("7", "text"),
        Field.SEED: Slot("3", "seed"),
        Field.STEPS: Slot("3", "steps"),
        Field.WIDTH: Slot("5", "width"),
        Field.HEIGHT: Slot("5", "height"),
        Field.BATCH: Slot("5", "batch_size"),
        Field.CHECKPOINT: Slot("4", "ckpt_name"),
    }
    filled = mapped.fill({Field.PROMPT: "a cat", Field.SEED: 5, Field.CHECKPOINT: "x.ckpt"})
    assert (
        filled["6"]["inputs"]["text"] == "a cat" and filled["4"]["inputs"]["ckpt_name"] == "x.ckpt"
    )
    assert graph["6"]["inputs"]["text"] == "a bottle"  # filling never changes the mapping


def _two_samplers(graph: Graph) -> None:
    graph["13"] = copy.deepcopy(graph["3"])


def _zeroed_negative(graph: Graph) -> None:
    graph["12"] = {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["6", 0]}}
    graph["3"]["inputs"]["negative"] = ["12", 0]


def _prompt_from_a_link(graph: Graph) -> None:
    graph["6"]["inputs"]["text"] = ["20", 0]
    graph["20"] = {"class_type": "PrimitiveString", "inputs": {"value": "a bottle"}}


def _unknown_mark(graph: Graph) -> None:
    graph["6"]["_meta"] = {"title": "imagine:colour"}


def _marked_twice(graph: Graph) -> None:
    graph["6"]["_meta"] = {"title": "imagine:prompt"}
    graph["7"]["_meta"] = {"title": "imagine:prompt"}


def _same_text_node(graph: Graph) -> None:
    graph["3"]["inputs"]["negative"] = ["6", 0]


def _mark_without_its_input(graph: Graph) -> None:
    graph["8"]["_meta"] = {"title": "imagine:seed"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_two_samplers, "2 samplers (3, 13) with positive, negative and latent_image links"),
        (_zeroed_negative, "takes it from node 12 (ConditioningZeroOut), which has no 'text'"),
        (_prompt_from_a_link, "which holds a link from another node, not a text"),
        (_unknown_mark, "titled imagine:colour, which is not one of"),
        (_marked_twice, "the prompt is marked on two nodes (6 and 7)"),
        (_same_text_node, "the prompt and the negative prompt would both go to node 6"),
        (_mark_without_its_input, "node 8 (VAEDecode) is marked for the seed but has no 'seed'"),
    ],
)
def test_a_workflow_that_cannot_be_mapped_is_refused_at_start_up(
    comfy: ComfyEmulator, tmp_path: Path, change: Any, message: str
) -> None:
    graph = _exported()
    change(graph)
    settings = fast_settings([comfy], workflow_path=_write(tmp_path, graph))

    with pytest.raises(WorkflowError) as caught:
        ComfyUIBackend(settings, httpx.AsyncClient(), values=MemoryValues())

    assert str(caught.value).startswith("COMFYUI_WORKFLOW (team.json): ")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read the file"),
        ("{not json", "not JSON"),
        ('{"nodes": [], "links": []}', 'export the workflow with "Save (API Format)"'),
        ('{"3": {"class_type": "KSampler"}}', "node 3 has no class_type and inputs"),
    ],
)
def test_a_file_that_is_no_api_workflow_is_refused(
    comfy: ComfyEmulator, tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "team.json"
    if content is not None:
        path.write_text(content)

    with pytest.raises(WorkflowError, match="COMFYUI_WORKFLOW") as caught:
        ComfyUIBackend(
            fast_settings([comfy], workflow_path=str(path)),
            httpx.AsyncClient(),
            values=MemoryValues(),
        )
    assert message in str(caught.value)
