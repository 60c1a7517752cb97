"""The default txt2img workflow runs headless on a tiny checkpoint and writes a PNG carrying its graph."""
import copy
import json
import shutil

import pytest
import torch

from core.workflow.png import read_png_workflow
from tests import testdata

pytestmark = pytest.mark.usefixtures("cpu_fp32")


def _default_prompt():
    return json.loads(testdata.workflow("default.api.derived.json").read_text())


def _small(prompt, seed=None):
    prompt = copy.deepcopy(prompt)
    for node in prompt.values():
        if node["class_type"] == "KSampler":
            node["inputs"]["steps"] = 2
            if seed is not None:
                node["inputs"]["seed"] = seed
        if node["class_type"] == "EmptyLatentImage":
            node["inputs"]["width"] = node["inputs"]["height"] = 64
    return prompt


@pytest.fixture()
def runner(folders, tiny_models):
    import nodes
    from core.execution.executor import Executor
    from core.execution.registry import NodeRegistry

    prompt = _default_prompt()
    ckpt = next(n["inputs"]["ckpt_name"] for n in prompt.values() if n["class_type"] == "CheckpointLoaderSimple")
    target = folders.models_dir / "checkpoints" / ckpt
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(tiny_models("sd15")[0], target)
    registry = NodeRegistry()
    nodes.register_builtin_nodes(registry)
    executor = Executor(registry, cache="none")

    def run(seed=None, workflow=None):
        p = _small(prompt, seed)
        extra = {"extra_pnginfo": {"workflow": workflow}} if workflow is not None else {}
        result = executor.execute(p, "job", extra)
        assert result.success, result.error
        images = [img for out in result.outputs.values() for img in out.get("images", [])]
        return p, [folders.output_dir / img["subfolder"] / img["filename"] for img in images]

    return run


def _pixels(path):
    import numpy as np
    from PIL import Image

    return torch.from_numpy(np.array(Image.open(path)))


def test_default_workflow_writes_a_png_with_prompt_and_workflow(runner):
    workflow = {"last_node_id": 9, "nodes": [], "links": [], "version": 0.4}
    prompt, files = runner(workflow=workflow)
    assert [f.name for f in files] == ["ComfyUI_00001_.png"]
    saved_workflow, saved_prompt = read_png_workflow(files[0])
    assert saved_workflow == workflow
    assert saved_prompt == prompt


def test_same_seed_twice_gives_identical_pixels_and_the_counter_advances(runner):
    _, first = runner(seed=42)
    _, second = runner(seed=42)
    assert first[0].name == "ComfyUI_00001_.png" and second[0].name == "ComfyUI_00002_.png"
    assert torch.equal(_pixels(first[0]), _pixels(second[0]))


def test_different_seeds_give_different_pixels(runner):
    _, a = runner(seed=1)
    _, b = runner(seed=2)
    assert not torch.equal(_pixels(a[0]), _pixels(b[0]))
