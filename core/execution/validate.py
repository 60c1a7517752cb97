"""Prompt validation with ComfyUI's error shapes (docs/comfy-api.md §1.1 and §5.1).

Every node's own inputs are checked once, independently of the others, so every error in the prompt
is reported at once; a node is then valid when it and everything upstream of it is valid, and an
output runs when its whole upstream closure is valid.
"""
from __future__ import annotations

import inspect
import logging
import math
from dataclasses import dataclass, field

from core.execution.graph import declared_inputs, find_cycle, is_link, type_name, types_match, unwrap_value
from core.execution.node_call import run_sync

log = logging.getLogger(__name__)

_COERCE = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}


@dataclass
class ValidationResult:
    ok: bool
    error: dict | None
    node_errors: dict
    outputs: list  # output node ids that will run
    prompt: dict = field(default_factory=dict)  # the prompt with constants unwrapped and coerced


def error(type_: str, message: str, details: str = "", **extra_info) -> dict:
    return {"type": type_, "message": message, "details": details, "extra_info": extra_info}


def describe(node_id, class_type, errors: list) -> list:
    """Teaching one-liners: ``KSampler #3, input 'steps': Value 0 smaller than min of 1``."""
    lines = []
    for e in errors:
        name = e.get("extra_info", {}).get("input_name")
        where = f"{class_type} #{node_id}" + (f", input '{name}'" if name else "")
        detail = e.get("details") or ""
        msg = e["message"] + (f" ({detail})" if detail and detail != name else "")
        lines.append(f"{where}: {msg}")
    return lines


def validate_prompt(registry, prompt, partial_targets=None) -> ValidationResult:
    if not isinstance(prompt, dict):
        return ValidationResult(False, error("invalid_prompt", "Prompt must be an object of nodes", ""), {}, [])
    prompt = {str(k): v for k, v in prompt.items()}

    # 1. class_type present and known; every problem collected before answering.
    unknown = {}
    for node_id, node in prompt.items():
        if not isinstance(node, dict) or "class_type" not in node:
            return ValidationResult(False, error(
                "invalid_prompt", "Cannot execute because a node is missing the class_type property.",
                f"Node ID '#{node_id}'"), {}, [])
        class_type = node["class_type"]
        if not isinstance(class_type, str) or class_type not in registry:
            unknown[node_id] = {
                "errors": [error("missing_node_type", f"Node '{class_type}' not found",
                                 f"Node ID '#{node_id}': no node class named {class_type!r} is installed",
                                 node_id=node_id, class_type=class_type)],
                "dependent_outputs": [], "class_type": class_type}

    def refuse_unknown(others: dict) -> ValidationResult:
        # ComfyUI's answer names the first missing class; node_errors carries every problem found.
        first = next(iter(unknown.values()))["class_type"]
        return ValidationResult(False, error(
            "invalid_prompt", f"Cannot execute because node {first} does not exist.",
            f"Node ID '#{next(iter(unknown))}'"), {**unknown, **others}, [])

    # 2. Output nodes.
    outputs = [nid for nid, node in prompt.items()
               if nid not in unknown and getattr(registry.get(node["class_type"]), "OUTPUT_NODE", False)]
    if partial_targets is not None:  # an empty list selects nothing: refused below, as ComfyUI does
        targets = {str(t) for t in partial_targets}
        outputs = [o for o in outputs if o in targets]
    if not outputs:
        if unknown:
            return refuse_unknown({})
        return ValidationResult(False, error("prompt_no_outputs", "Prompt has no outputs", ""), {}, [])

    coerced = {nid: dict(node, inputs=dict(node.get("inputs") or {})) for nid, node in prompt.items()}

    # 3. Each node's own inputs, for every node reachable from an output.
    reachable = _upstream_closure(coerced, outputs)
    own_errors: dict = {}
    for node_id in reachable:
        if node_id in unknown:
            continue
        errs = check_node_inputs(registry, coerced, node_id)
        if errs:
            own_errors[node_id] = errs

    cycle = find_cycle(coerced, outputs)
    if cycle:
        for node_id in cycle:
            own_errors.setdefault(node_id, []).append(error(
                "dependency_cycle", "Dependency cycle detected",
                "Nodes " + " -> ".join(f"#{n}" for n in cycle + [cycle[0]]) + " depend on each other"))

    # 4. Outputs whose closure is clean run; the rest are reported.
    node_errors: dict = {}
    valid_outputs = []
    for out in outputs:
        closure = _upstream_closure(coerced, [out])
        bad = [n for n in closure if n in own_errors]
        if not bad:
            valid_outputs.append(out)
        for n in bad:
            entry = node_errors.setdefault(n, {"errors": own_errors[n], "dependent_outputs": [],
                                               "class_type": coerced[n]["class_type"]})
            entry["dependent_outputs"].append(out)

    if unknown:
        return refuse_unknown(node_errors)
    if not valid_outputs:
        reasons = []
        for n, entry in node_errors.items():
            reasons.extend(f"{e['message']}: {e['details']}" for e in entry["errors"])
        return ValidationResult(False, error("prompt_outputs_failed_validation",
                                             "Prompt outputs failed validation", "\n".join(reasons)),
                                node_errors, [], coerced)
    return ValidationResult(True, None, node_errors, valid_outputs, coerced)


def _upstream_closure(prompt, starts) -> list:
    seen, order, stack = set(), [], list(starts)
    while stack:
        node_id = stack.pop()
        if node_id in seen or node_id not in prompt:
            continue
        seen.add(node_id)
        order.append(node_id)
        for value in prompt[node_id]["inputs"].values():
            if is_link(value):
                stack.append(str(value[0]))
    return order


def _validate_inputs_params(cls):
    fn = getattr(cls, "VALIDATE_INPUTS", None)
    if fn is None:
        return None, set(), False
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return fn, set(), True
    takes_all = any(p.kind == p.VAR_KEYWORD for p in params.values())
    return fn, set(params), takes_all


def check_node_inputs(registry, prompt, node_id) -> list:
    """The errors of one node's own inputs (links are checked for existence and type only)."""
    node = prompt[node_id]
    cls = registry.get(node["class_type"])
    errors: list = []
    try:
        declared = declared_inputs(cls.INPUT_TYPES())
    except Exception as e:  # a plugin's INPUT_TYPES that raises is that node's error, not a crash
        return [error("exception_during_validation", "Exception when validating node", str(e))]
    inputs = node["inputs"]
    validate_fn, validate_params, validate_all = _validate_inputs_params(cls)
    received_types = {}

    for name, (section, type_, opts) in declared.items():
        config = [type_, opts] if opts else [type_]
        if name not in inputs:
            if section == "required":
                errors.append(error("required_input_missing", "Required input is missing", name,
                                    input_name=name, input_config=config))
            continue
        value = inputs[name]
        if isinstance(value, (list, tuple)) and not is_link(value):
            errors.append(error("bad_linked_input", "Bad linked input, must be a length-2 list of [string, int]",
                                name, input_name=name, input_config=config, received_value=value))
            continue
        if is_link(value):
            src_id, slot = str(value[0]), value[1]
            src = prompt.get(src_id)
            if src is None:
                errors.append(error("bad_linked_input", "Linked node does not exist",
                                    f"{name}: node #{src_id} is not in the prompt",
                                    input_name=name, input_config=config, received_value=list(value)))
                continue
            src_type = src.get("class_type")
            src_cls = registry.get(src_type) if isinstance(src_type, str) else None
            if src_cls is None:  # an unknown class, reported on its own node; its outputs are unknown
                continue
            returns = tuple(getattr(src_cls, "RETURN_TYPES", ()) or ())
            if not 0 <= slot < len(returns):
                errors.append(error("bad_linked_input", "Linked output index out of range",
                                    f"{name}: node #{src_id} ({src['class_type']}) has {len(returns)} outputs, "
                                    f"link asks for output {slot}",
                                    input_name=name, input_config=config, received_value=list(value)))
                continue
            received = returns[slot]
            received_types[name] = received
            if "input_types" not in validate_params and not types_match(received, type_):
                errors.append(error("return_type_mismatch", "Return type mismatch between linked nodes",
                                    f"{name}, received_type({type_name(received)}) mismatch "
                                    f"input_type({type_name(type_)})",
                                    input_name=name, input_config=config, received_type=type_name(received),
                                    linked_node=[src_id, slot]))
            continue

        value = unwrap_value(value)
        tname = type_name(type_)
        if tname in _COERCE:
            try:
                value = _coerce(tname, value)
            except (TypeError, ValueError, OverflowError):
                errors.append(error("invalid_input_type", f"Failed to convert an input value to a {tname} value",
                                    f"{name}, {value!r}", input_name=name, input_config=config,
                                    received_value=value))
                continue
        inputs[name] = value
        if validate_all or name in validate_params:
            continue  # the node validates this input itself
        if tname in ("INT", "FLOAT"):
            lo, hi = opts.get("min"), opts.get("max")
            if lo is not None and value < lo:
                errors.append(error("value_smaller_than_min", f"Value {value} smaller than min of {lo}", name,
                                    input_name=name, input_config=config, received_value=value))
            if hi is not None and value > hi:
                errors.append(error("value_bigger_than_max", f"Value {value} bigger than max of {hi}", name,
                                    input_name=name, input_config=config, received_value=value))
        elif tname == "COMBO":
            choices = type_ if isinstance(type_, (list, tuple)) else opts.get("options", [])
            if choices is not None and value not in choices:
                shown = f"(list of length {len(choices)})" if len(choices) > 20 else list(choices)
                errors.append(error("value_not_in_list", "Value not in list", f"{name}: '{value}' not in {shown}",
                                    input_name=name, input_config=config, received_value=value))

    for name, value in inputs.items():  # undeclared links still feed **kwargs nodes: their source must exist
        if name not in declared and is_link(value) and str(value[0]) not in prompt:
            errors.append(error("bad_linked_input", "Linked node does not exist",
                                f"{name}: node #{value[0]} is not in the prompt",
                                input_name=name, received_value=list(value)))

    if validate_fn is not None and not errors:
        kwargs = {}
        for name in declared:
            if validate_all or name in validate_params:
                value = inputs.get(name)
                kwargs[name] = None if is_link(value) else value
        if "input_types" in validate_params:
            kwargs["input_types"] = received_types
        try:
            result = validate_fn(**kwargs)
            if inspect.isawaitable(result):  # async VALIDATE_INPUTS
                result = run_sync(result)
        except Exception as e:
            errors.append(error("exception_during_validation", "Exception when validating node", str(e)))
        else:
            if result is not True:
                errors.append(error("custom_validation_failed", "Custom validation failed for node",
                                    f"{result}", input_name=None))
    return errors


def _coerce(tname: str, value):
    if tname == "INT":
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(value)
        if isinstance(value, str):
            value = value.strip()
            return int(value) if value.lstrip("+-").isdigit() else int(float(value))
        return int(value)
    if tname == "FLOAT":
        out = float(value)
        if not math.isfinite(out):
            raise ValueError(value)
        return out
    if tname == "BOOLEAN" and isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off", ""):
            return False
        raise ValueError(value)
    return _COERCE[tname](value)
