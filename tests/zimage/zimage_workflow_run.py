"""Running a Z-Image UI workflow headless on tiny stand-in files (core/models/standins.py), up to the
sampled latent: the graph's VAE part is cut off until a 16-channel tiny VAE stands in for ae.safetensors,
and a test-only output node keeps the KSampler's LATENT."""
from __future__ import annotations

import random

CAPTURED: list = []


class CaptureLatent:
    """A test output node: records the LATENT it receives."""

    CATEGORY = "testing"
    FUNCTION = "capture"
    OUTPUT_NODE = True
    RETURN_TYPES = ()

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT",)}}

    def capture(self, samples):
        CAPTURED.append(samples)
        return {}


def registry():
    import nodes
    from core.execution.registry import NodeRegistry

    reg = NodeRegistry()
    nodes.register_builtin_nodes(reg)
    reg.register(CaptureLatent, module="tests.zimage")
    return reg


def to_latent_prompt(workflow: dict, reg) -> tuple[dict, str]:
    """The workflow's prompt with VAEDecode and what follows replaced by CaptureLatent on the KSampler."""
    from core.workflow.formats import ui_to_api

    prompt = ui_to_api(workflow, reg.object_info(), random.Random(0))
    (sampler_id,) = [k for k, v in prompt.items() if v["class_type"] == "KSampler"]
    keep = _upstream(prompt, sampler_id)
    prompt = {k: v for k, v in prompt.items() if k in keep}
    prompt["capture"] = {"class_type": "CaptureLatent", "inputs": {"samples": [sampler_id, 0]}}
    return prompt, sampler_id


def _upstream(prompt: dict, node_id: str) -> set:
    seen, todo = set(), [node_id]
    while todo:
        nid = todo.pop()
        if nid in seen:
            continue
        seen.add(nid)
        todo += [v[0] for v in prompt[nid]["inputs"].values() if isinstance(v, list) and len(v) == 2]
    return seen


def run(prompt: dict, reg, base) -> dict:
    """Provision tiny files under ``base``, validate and execute; the captured LATENT."""
    from core.execution.executor import Executor
    from core.execution.validate import validate_prompt
    from core.models.standins import provision

    assert provision(prompt, base) == []
    check = validate_prompt(reg, prompt)
    assert check.ok, check.node_errors or check.error
    CAPTURED.clear()
    result = Executor(reg).execute(check.prompt, "zimage", {}, check.outputs, validated=True)
    assert result.success, result.error
    (latent,) = CAPTURED
    return latent
