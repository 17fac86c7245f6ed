"""API-format workflows and which node input receives each value of a request.

A workflow is mapped once, at start-up; a workflow that cannot be mapped raises
``WorkflowError`` then, never at run time. Each *field* (prompt, negative, seed, steps,
width, height, batch, denoise, reference, checkpoint, fps) resolves to one (node, input):

1. **Marked**: a node whose ``_meta.title`` contains ``imagine:<field>`` receives that field
   in its first input named in ``INPUT_NAMES`` (``imagine:sampler`` = seed + steps,
   ``imagine:latent`` = width + height + batch). A field marked on two nodes is ambiguous.
2. **Found** (the txt2img fields not marked): from the one sampler, the node whose
   ``positive``, ``negative`` and ``latent_image`` inputs are links (KSampler,
   KSamplerAdvanced): its own ``seed``/``noise_seed`` and ``steps``; the ``text`` of the node
   its ``positive`` (prompt) and ``negative`` link to; ``width``, ``height`` and
   ``batch_size`` of the node its ``latent_image`` links to. No sampler, or several, and the
   field must be marked.

The input must hold a constant of the field's type (a text, a whole number, ...), not a link;
prompt and negative must be different nodes. ``checkpoint`` is optional: only a marked node
gets ``COMFYUI_CHECKPOINT`` (a team's workflow keeps its own loaders otherwise). The built-in
workflows (``workflows/*.json``) are marked and mapped the same way."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from bot.backend.comfyui.settings import WORKFLOW_SETTING

Graph = dict[str, dict[str, Any]]


class WorkflowError(ValueError):
    """A workflow that cannot be used; the message names the missing or ambiguous piece."""


class Field(StrEnum):
    PROMPT = "prompt"
    NEGATIVE = "negative"
    SEED = "seed"
    STEPS = "steps"
    WIDTH = "width"
    HEIGHT = "height"
    BATCH = "batch"
    DENOISE = "denoise"
    REFERENCE = "reference"
    CHECKPOINT = "checkpoint"
    FPS = "fps"


INPUT_NAMES: Final[Mapping[Field, tuple[str, ...]]] = MappingProxyType(
    {
        Field.PROMPT: ("text",),
        Field.NEGATIVE: ("text",),
        Field.SEED: ("seed", "noise_seed"),
        Field.STEPS: ("steps",),
        Field.WIDTH: ("width",),
        Field.HEIGHT: ("height",),
        Field.BATCH: ("batch_size", "amount"),
        Field.DENOISE: ("denoise",),
        Field.REFERENCE: ("image",),
        Field.CHECKPOINT: ("ckpt_name",),
        Field.FPS: ("fps", "frame_rate"),
    }
)
GROUPS: Final[Mapping[str, tuple[Field, ...]]] = MappingProxyType(
    {
        "sampler": (Field.SEED, Field.STEPS),
        "latent": (Field.WIDTH, Field.HEIGHT, Field.BATCH),
    }
)
TXT2IMG: Final = (
    Field.PROMPT,
    Field.NEGATIVE,
    Field.SEED,
    Field.STEPS,
    Field.WIDTH,
    Field.HEIGHT,
    Field.BATCH,
)
IMG2IMG: Final = (
    Field.PROMPT,
    Field.NEGATIVE,
    Field.SEED,
    Field.STEPS,
    Field.BATCH,
    Field.DENOISE,
    Field.REFERENCE,
)
UPSCALE: Final = (Field.REFERENCE,)
TXT2VIDEO: Final = (*TXT2IMG, Field.FPS)
"""The batch is the clip's frames (``CreateVideo`` at ``fps`` after the sampler)."""
IMG2VIDEO: Final = (*IMG2IMG, Field.WIDTH, Field.HEIGHT, Field.FPS)
"""The reference (scaled to width × height) is the first frame; the batch, the frames after
it (sampled from the reference at the denoise strength)."""
_TEXTS: Final = frozenset({Field.PROMPT, Field.NEGATIVE, Field.REFERENCE, Field.CHECKPOINT})
_MARKER: Final = re.compile(r"imagine:([A-Za-z_-]+)")
_SAMPLER_LINKS: Final = ("positive", "negative", "latent_image")
_WHAT: Final[Mapping[Field, str]] = MappingProxyType(
    {
        Field.PROMPT: "the prompt",
        Field.NEGATIVE: "the negative prompt",
        Field.SEED: "the seed",
        Field.STEPS: "the steps",
        Field.WIDTH: "the width",
        Field.HEIGHT: "the height",
        Field.BATCH: "the batch size",
        Field.DENOISE: "the denoise strength",
        Field.REFERENCE: "the reference image",
        Field.CHECKPOINT: "the checkpoint",
        Field.FPS: "the frame rate",
    }
)


@dataclass(frozen=True, slots=True)
class Slot:
    node: str
    input: str


@dataclass(frozen=True, slots=True)
class Workflow:
    """A mapped API-format workflow; ``fill`` makes the prompt for one request."""

    source: str
    """For messages: "the built-in txt2img workflow", "COMFYUI_WORKFLOW (team.json)"."""
    graph: Graph
    slots: Mapping[Field, Slot]
    custom: bool = False

    def fill(self, values: Mapping[Field, object]) -> Graph:
        """A fresh copy with each mapped field set (values for unmapped fields are dropped)."""
        graph = copy.deepcopy(self.graph)
        for field, value in values.items():
            slot = self.slots.get(field)
            if slot is not None:
                graph[slot.node]["inputs"][slot.input] = value
        return graph

    def node_title(self, node_id: str) -> str:
        """``KSampler`` or ``KSampler "imagine:sampler"``: how a person finds the node."""
        node = self.graph.get(node_id)
        if node is None:
            return f"node {node_id}"
        title = _title(node)
        kind = str(node.get("class_type", "?"))
        return f'{kind} "{title}"' if title and title != kind else kind


@dataclass(frozen=True, slots=True)
class Workflows:
    """The workflows of one backend: txt2img (maybe a team's own), img2img, upscale, and
    the two that make clips: txt2video and img2video (ending in ``SaveVideo``)."""

    txt2img: Workflow
    img2img: Workflow
    upscale: Workflow
    txt2video: Workflow
    img2video: Workflow


def load_workflows(workflow_path: str | None = None) -> Workflows:
    """The built-in workflows, with ``workflow_path`` (``COMFYUI_WORKFLOW``) as txt2img."""
    txt2img = load_workflow_file(workflow_path) if workflow_path else builtin("txt2img", TXT2IMG)
    return Workflows(
        txt2img,
        builtin("img2img", IMG2IMG),
        builtin("upscale", UPSCALE),
        builtin("txt2video", TXT2VIDEO),
        builtin("img2video", IMG2VIDEO),
    )


def builtin(name: str, required: Sequence[Field]) -> Workflow:
    text = resources.files(__package__).joinpath("workflows", f"{name}.json").read_text("utf-8")
    return map_workflow(json.loads(text), required=required, source=f"the built-in {name} workflow")


def load_workflow_file(path: str) -> Workflow:
    """A team's txt2img workflow, exported from ComfyUI with "Save (API Format)"."""
    source = f"{WORKFLOW_SETTING} ({Path(path).name})"
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise WorkflowError(f"{source}: cannot read the file ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise WorkflowError(f"{source}: not JSON ({exc})") from None
    return map_workflow(data, required=TXT2IMG, source=source, custom=True)


def map_workflow(
    data: object, *, required: Sequence[Field], source: str, custom: bool = False
) -> Workflow:
    graph = _graph(data, source)
    slots = _marked(graph, source)
    missing = [f for f in required if f not in slots]
    if missing:
        slots.update(_found(graph, missing, source))
    for field in required:
        if field not in slots:
            raise WorkflowError(f"{source}: no node receives {_WHAT[field]}")
    for field, slot in slots.items():
        _check_constant(graph, field, slot, source)
    prompt, negative = slots.get(Field.PROMPT), slots.get(Field.NEGATIVE)
    if prompt is not None and negative is not None and prompt.node == negative.node:
        raise WorkflowError(
            f"{source}: the prompt and the negative prompt would both go to node {prompt.node}"
        )
    return Workflow(source, graph, dict(slots), custom)


def _graph(data: object, source: str) -> Graph:
    if isinstance(data, dict) and isinstance(data.get("nodes"), list) and "links" in data:
        raise WorkflowError(
            f"{source}: this is ComfyUI's UI format; export the workflow with "
            '"Save (API Format)" (enable the dev mode options in the settings to see it)'
        )
    if not isinstance(data, dict) or not data:
        raise WorkflowError(f"{source}: not an API-format workflow (an object of nodes)")
    graph: Graph = {}
    for node_id, node in data.items():
        if (
            not isinstance(node, dict)
            or not isinstance(node.get("class_type"), str)
            or not isinstance(node.get("inputs"), dict)
        ):
            raise WorkflowError(f"{source}: node {node_id} has no class_type and inputs")
        graph[str(node_id)] = node
    return graph


def _title(node: Mapping[str, Any]) -> str:
    meta = node.get("_meta")
    title = meta.get("title") if isinstance(meta, dict) else None
    return title if isinstance(title, str) else ""


def _marked(graph: Graph, source: str) -> dict[Field, Slot]:
    slots: dict[Field, Slot] = {}
    for node_id, node in graph.items():
        for token in _MARKER.findall(_title(node)):
            name = token.lower()
            try:
                fields = GROUPS.get(name) or (Field(name),)
            except ValueError:
                known = ", ".join([*(f.value for f in Field), *GROUPS])
                raise WorkflowError(
                    f"{source}: node {node_id} is titled imagine:{token}, which is not one of "
                    f"{known}"
                ) from None
            for field in fields:
                if field in slots:
                    raise WorkflowError(
                        f"{source}: {_WHAT[field]} is marked on two nodes "
                        f"({slots[field].node} and {node_id}); keep one imagine:{field} title"
                    )
                slots[field] = Slot(node_id, _input_of(node, node_id, field, source))
    return slots


def _input_of(node: Mapping[str, Any], node_id: str, field: Field, source: str) -> str:
    for name in INPUT_NAMES[field]:
        if name in node["inputs"]:
            return name
    wanted = " or ".join(repr(n) for n in INPUT_NAMES[field])
    raise WorkflowError(
        f"{source}: node {node_id} ({node['class_type']}) is marked for {_WHAT[field]} "
        f"but has no {wanted} input"
    )


def _link(value: object) -> str | None:
    if isinstance(value, list) and len(value) == 2 and isinstance(value[1], int):
        return str(value[0])
    return None


def _found(graph: Graph, fields: Sequence[Field], source: str) -> dict[Field, Slot]:
    """Fields found from the one sampler (only those of txt2img can be)."""
    wanted = [f for f in fields if f in TXT2IMG]
    if not wanted:
        return {}
    samplers = [
        node_id
        for node_id, node in graph.items()
        if all(_link(node["inputs"].get(name)) for name in _SAMPLER_LINKS)
    ]
    names = ", ".join(f"imagine:{f}" for f in wanted)
    if len(samplers) != 1:
        found = (
            "no sampler" if not samplers else f"{len(samplers)} samplers ({', '.join(samplers)})"
        )
        raise WorkflowError(
            f"{source}: {found} with positive, negative and latent_image links, so "
            f"{_WHAT[wanted[0]]} cannot be found; title the nodes that receive them {names}"
        )
    sampler = samplers[0]
    inputs = graph[sampler]["inputs"]
    sources = {
        Field.SEED: sampler,
        Field.STEPS: sampler,
        Field.PROMPT: _link(inputs["positive"]),
        Field.NEGATIVE: _link(inputs["negative"]),
        Field.WIDTH: _link(inputs["latent_image"]),
        Field.HEIGHT: _link(inputs["latent_image"]),
        Field.BATCH: _link(inputs["latent_image"]),
    }
    slots: dict[Field, Slot] = {}
    for field in wanted:
        node_id = sources[field]
        node = graph.get(node_id or "")
        if node_id is None or node is None:
            raise WorkflowError(f"{source}: the sampler {sampler} links to a missing node")
        name = next((n for n in INPUT_NAMES[field] if n in node["inputs"]), None)
        if name is None:
            raise WorkflowError(
                f"{source}: {_WHAT[field]} cannot be found: the sampler {sampler} takes it "
                f"from node {node_id} ({node['class_type']}), which has no "
                f"{' or '.join(repr(n) for n in INPUT_NAMES[field])} input; title the node "
                f"that receives it imagine:{field}"
            )
        slots[field] = Slot(node_id, name)
    return slots


def _check_constant(graph: Graph, field: Field, slot: Slot, source: str) -> None:
    value = graph[slot.node]["inputs"][slot.input]
    if field in _TEXTS:
        ok = isinstance(value, str)
        kind = "a text"
    elif field in (Field.DENOISE, Field.FPS):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        kind = "a number"
    else:
        ok = isinstance(value, int) and not isinstance(value, bool)
        kind = "a whole number"
    if not ok:
        what = "a link from another node" if _link(value) else repr(value)[:40]
        raise WorkflowError(
            f"{source}: {_WHAT[field]} goes to input {slot.input!r} of node {slot.node} "
            f"({graph[slot.node]['class_type']}), which holds {what}, not {kind}"
        )
