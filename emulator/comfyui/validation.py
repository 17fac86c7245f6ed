"""``POST /prompt`` validation with ComfyUI's error types, messages and ``node_errors``."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Error = dict[str, Any]
NodeInfo = Mapping[str, Mapping[str, Any]]
CustomCheck = Callable[[str, Any], str | None]
"""(input name, value) → None when fine, else the message (``VALIDATE_INPUTS``)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    error: Error | None
    outputs: list[str]
    node_errors: dict[str, Any]


def _error(kind: str, message: str, details: str, **extra: Any) -> Error:
    return {"type": kind, "message": message, "details": details, "extra_info": extra}


def _type_name(exc: BaseException) -> str:
    module = type(exc).__module__
    return type(exc).__qualname__ if module == "builtins" else f"{module}.{type(exc).__qualname__}"


def _links_match(received: Any, wanted: Any) -> bool:
    if received == wanted:
        return True
    if not isinstance(received, str) or not isinstance(wanted, str):
        return False
    return bool({t.strip() for t in received.split(",")} & {t.strip() for t in wanted.split(",")})


class _Validator:
    def __init__(
        self, prompt: dict[str, Any], info: NodeInfo, custom: Mapping[str, CustomCheck]
    ) -> None:
        self.prompt = prompt
        self.info = info
        self.custom = custom
        self.validated: dict[str, tuple[bool, list[Error], str]] = {}

    def node(self, unique_id: str) -> tuple[bool, list[Error], str]:
        if unique_id in self.validated:
            return self.validated[unique_id]
        inputs = self.prompt[unique_id]["inputs"]
        class_type = self.prompt[unique_id]["class_type"]
        spec = self.info[class_type]["input"]
        custom = self.custom.get(class_type)
        errors: list[Error] = []
        valid = True
        for category in ("required", "optional"):
            for name, entry in spec.get(category, {}).items():
                input_type = entry[0]
                extra = entry[1] if len(entry) > 1 else {}
                if name not in inputs:
                    if category == "required":
                        errors.append(
                            _error(
                                "required_input_missing", "Required input is missing", name,
                                input_name=name,
                            )
                        )  # fmt: skip
                    continue
                value = inputs[name]
                config = [input_type, extra]
                if isinstance(value, list):
                    valid &= self._link(unique_id, name, value, input_type, config, errors)
                    continue
                error = self._constant(inputs, name, value, input_type, extra, config, custom)
                if error is not None:
                    errors.append(error)
        if custom is not None:
            for name in self._custom_inputs(class_type):
                if name in inputs and not isinstance(inputs[name], list):
                    message = custom(name, inputs[name])
                    if message is not None:
                        errors.append(
                            _error(
                                "custom_validation_failed", "Custom validation failed for node",
                                f"{name} - {message}", input_name=name,
                            )
                        )  # fmt: skip
        result = (not errors and valid, errors, unique_id)
        self.validated[unique_id] = result
        return result

    def _custom_inputs(self, class_type: str) -> tuple[str, ...]:
        return ("image",) if class_type == "LoadImage" else ()

    def _link(
        self, unique_id: str, name: str, value: list[Any], input_type: Any,
        config: list[Any], errors: list[Error],
    ) -> bool:  # fmt: skip
        if len(value) != 2:
            errors.append(
                _error(
                    "bad_linked_input",
                    "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                    name, input_name=name, input_config=config, received_value=value,
                )
            )  # fmt: skip
            return True
        source = value[0]
        source_class = self.prompt[source]["class_type"]
        received = self.info[source_class]["output"][value[1]]
        if not _links_match(received, input_type):
            errors.append(
                _error(
                    "return_type_mismatch", "Return type mismatch between linked nodes",
                    f"{name}, received_type({received}) mismatch input_type({input_type})",
                    input_name=name, input_config=config, received_type=received,
                    linked_node=value,
                )
            )  # fmt: skip
            return True
        try:
            return self.node(source)[0]
        except Exception as exc:
            _, _, tb = sys.exc_info()
            reasons = [
                _error(
                    "exception_during_inner_validation", "Exception when validating inner node",
                    str(exc), input_name=name, input_config=config,
                    exception_message=str(exc), exception_type=_type_name(exc),
                    traceback=traceback.format_tb(tb), linked_node=value,
                )
            ]  # fmt: skip
            self.validated[source] = (False, reasons, source)
            return False

    @staticmethod
    def _constant(
        inputs: dict[str, Any], name: str, value: Any, input_type: Any, extra: dict[str, Any],
        config: list[Any], custom: CustomCheck | None,
    ) -> Error | None:  # fmt: skip
        try:
            if isinstance(value, dict) and "__value__" in value:
                value = inputs[name] = value["__value__"]
            converter = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}.get(
                input_type if isinstance(input_type, str) else ""
            )
            if converter is not None:
                value = inputs[name] = converter(value)
        except Exception as exc:
            return _error(
                "invalid_input_type", f"Failed to convert an input value to a {input_type} value",
                f"{name}, {value}, {exc}", input_name=name, input_config=config,
                received_value=value, exception_message=str(exc),
            )  # fmt: skip
        if custom is not None and name == "image":
            return None
        if "min" in extra and value < extra["min"]:
            return _error(
                "value_smaller_than_min", f"Value {value} smaller than min of {extra['min']}",
                name, input_name=name, input_config=config, received_value=value,
            )  # fmt: skip
        if "max" in extra and value > extra["max"]:
            return _error(
                "value_bigger_than_max", f"Value {value} bigger than max of {extra['max']}",
                name, input_name=name, input_config=config, received_value=value,
            )  # fmt: skip
        if isinstance(input_type, list) and value not in input_type:
            listed: Any = config
            if len(input_type) > 20:
                list_info, listed = f"(list of length {len(input_type)})", None
            else:
                list_info = str(input_type)
            return _error(
                "value_not_in_list", "Value not in list", f"{name}: '{value}' not in {list_info}",
                input_name=name, input_config=listed, received_value=value,
            )  # fmt: skip
        return None


def validate_prompt(
    prompt: dict[str, Any], info: NodeInfo, custom: Mapping[str, CustomCheck]
) -> Verdict:
    """Check a prompt as ComfyUI's ``validate_prompt`` does (inputs are converted in place)."""
    outputs = []
    for node_id, node in prompt.items():
        if not isinstance(node, dict) or "class_type" not in node:
            return Verdict(False, _error(
                "invalid_prompt",
                "Cannot execute because a node is missing the class_type property.",
                f"Node ID '#{node_id}'",
            ), [], {})  # fmt: skip
        class_type = node["class_type"]
        if not isinstance(class_type, str) or class_type not in info:
            return Verdict(False, _error(
                "invalid_prompt", f"Cannot execute because node {class_type} does not exist.",
                f"Node ID '#{node_id}'",
            ), [], {})  # fmt: skip
        if info[class_type].get("output_node"):
            outputs.append(node_id)
    if not outputs:
        return Verdict(False, _error("prompt_no_outputs", "Prompt has no outputs", ""), [], {})
    validator = _Validator(prompt, info, custom)
    good: list[str] = []
    failed: list[tuple[str, list[Error]]] = []
    node_errors: dict[str, Any] = {}
    for output in outputs:
        try:
            ok, reasons, _ = validator.node(output)
        except Exception as exc:
            _, _, tb = sys.exc_info()
            ok = False
            reasons = [
                _error(
                    "exception_during_validation", "Exception when validating node", str(exc),
                    exception_type=_type_name(exc), traceback=traceback.format_tb(tb),
                )
            ]  # fmt: skip
            validator.validated[output] = (False, reasons, output)
        if ok:
            good.append(output)
            continue
        failed.append((output, reasons))
        for node_id, (node_ok, node_reasons, _) in validator.validated.items():
            if node_ok or not node_reasons:
                continue
            entry = node_errors.setdefault(
                node_id,
                {"errors": node_reasons, "dependent_outputs": [],
                 "class_type": prompt[node_id]["class_type"]},
            )  # fmt: skip
            entry["dependent_outputs"].append(output)
    if not good:
        details = "\n".join(
            f"{e['message']}: {e['details']}" for _, errors in failed for e in errors
        )
        error = _error(
            "prompt_outputs_failed_validation", "Prompt outputs failed validation", details
        )
        return Verdict(False, error, [], node_errors)
    return Verdict(True, None, good, node_errors)
