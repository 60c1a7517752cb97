"""A UI workflow with a subgraph runs headless on a tiny checkpoint; the inner nodes run under their
``instance:inner`` ids, so progress events and validation errors point at the node inside the subgraph."""
import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests import testdata

REPO = Path(__file__).resolve().parents[2]
SUB = "5a3b0c1e-0000-4000-8000-00000000000a"
CKPT = "v1-5-pruned-emaonly-fp16.safetensors"


def subgraph_workflow(seed=42, steps=2) -> dict:
    """The default SD1.5 graph with its EmptyLatentImage and KSampler moved into a subgraph (instance 10)
    whose seed and steps are promoted widgets; width and height stay inside at 64."""
    wf = json.loads(testdata.workflow("default.ui.json").read_text())
    by_id = {n["id"]: n for n in wf["nodes"]}
    sampler, latent = copy.deepcopy(by_id[3]), copy.deepcopy(by_id[5])
    latent["widgets_values"] = [64, 64, 1]
    latent["outputs"][0]["links"] = [2]
    sampler["inputs"] = [{"name": "model", "type": "MODEL", "link": 11}, {"name": "positive", "type": "CONDITIONING", "link": 12},
                         {"name": "negative", "type": "CONDITIONING", "link": 13}, {"name": "latent_image", "type": "LATENT", "link": 2},
                         {"name": "seed", "type": "INT", "widget": {"name": "seed"}, "link": 14},
                         {"name": "steps", "type": "INT", "widget": {"name": "steps"}, "link": 15}]
    sampler["outputs"][0]["links"] = [16]
    sampler["widgets_values"] = [1, "fixed", 20, 8, "euler", "normal", 1]

    def link(id_, o, os_, t, ts, type_):
        return {"id": id_, "origin_id": o, "origin_slot": os_, "target_id": t, "target_slot": ts, "type": type_}

    names = [("model", "MODEL", 11), ("positive", "CONDITIONING", 12), ("negative", "CONDITIONING", 13),
             ("seed", "INT", 14), ("steps", "INT", 15)]
    definition = {
        "id": SUB, "version": 1, "name": "Sample", "inputNode": {"id": -10, "bounding": [0, 0, 10, 10]},
        "outputNode": {"id": -20, "bounding": [0, 0, 10, 10]},
        "inputs": [{"id": f"i{k}", "name": n, "type": t, "linkIds": [l]} for k, (n, t, l) in enumerate(names)],
        "outputs": [{"id": "o0", "name": "LATENT", "type": "LATENT", "linkIds": [16]}],
        "nodes": [latent, sampler], "groups": [],
        "links": [link(2, 5, 0, 3, 3, "LATENT"), *[link(l, -10, k, 3, [0, 1, 2, 4, 5][k], t)
                                                   for k, (_, t, l) in enumerate(names)],
                  link(16, 3, 0, -20, 0, "LATENT")]}
    instance = {"id": 10, "type": SUB, "pos": [400, 200], "size": [300, 150], "flags": {}, "order": 3, "mode": 0,
                "inputs": [{"name": "model", "type": "MODEL", "link": 1}, {"name": "positive", "type": "CONDITIONING", "link": 4},
                           {"name": "negative", "type": "CONDITIONING", "link": 6},
                           {"name": "seed", "type": "INT", "widget": {"name": "seed"}, "link": None},
                           {"name": "steps", "type": "INT", "widget": {"name": "steps"}, "link": None}],
                "outputs": [{"name": "LATENT", "type": "LATENT", "links": [7]}], "properties": {},
                "widgets_values": [seed, steps]}
    wf["nodes"] = [n for n in wf["nodes"] if n["id"] not in (3, 5)] + [instance]
    wf["links"] = [[1, 4, 0, 10, 0, "MODEL"], [3, 4, 1, 6, 0, "CLIP"], [4, 6, 0, 10, 1, "CONDITIONING"],
                   [5, 4, 1, 7, 0, "CLIP"], [6, 7, 0, 10, 2, "CONDITIONING"], [7, 10, 0, 8, 0, "LATENT"],
                   [8, 4, 2, 8, 1, "VAE"], [9, 8, 0, 9, 0, "IMAGE"]]
    wf["definitions"] = {"subgraphs": [definition]}
    return wf


@pytest.fixture(scope="module")
def registry():
    import nodes
    from core.execution.registry import NodeRegistry

    reg = NodeRegistry()
    nodes.register_builtin_nodes(reg)
    return reg


def test_subgraph_workflow_runs_headless_and_saves_its_prompt(tmp_path):
    from core.models.tiny import write_tiny_checkpoint
    from core.workflow.formats import read_png_text

    write_tiny_checkpoint(tmp_path / "models" / "checkpoints" / CKPT, "sd15")
    path = tmp_path / "sub.json"
    path.write_text(json.dumps(subgraph_workflow()))
    done = subprocess.run([sys.executable, str(REPO / "main.py"), "run", str(path), "--base-directory", str(tmp_path),
                           "--cpu", "--no-progress"], cwd=REPO, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    png = next(Path(line) for line in done.stdout.splitlines() if line.endswith(".png"))
    prompt = json.loads(read_png_text(png.read_bytes())["prompt"])
    assert prompt["10:3"]["class_type"] == "KSampler"
    assert (prompt["10:3"]["inputs"]["seed"], prompt["10:3"]["inputs"]["steps"]) == (42, 2)
    assert prompt["8"]["inputs"]["samples"] == ["10:3", 0]


def test_progress_events_name_the_node_inside_the_subgraph(tmp_path, registry):
    from core import paths
    from core.execution.executor import Executor
    from core.execution.validate import validate_prompt
    from core.models.tiny import write_tiny_checkpoint
    from core.workflow.formats import ui_to_api

    paths.configure(base=tmp_path)
    write_tiny_checkpoint(tmp_path / "models" / "checkpoints" / CKPT, "sd15")
    prompt = ui_to_api(subgraph_workflow(), registry.object_info())
    check = validate_prompt(registry, prompt)
    assert check.ok, check.node_errors
    events = []
    Executor(registry).execute(check.prompt, "p1", {}, check.outputs, emit=lambda e, d: events.append((e, d)),
                               preview_method="none", validated=True)
    executing = [d["node"] for e, d in events if e == "executing" and d.get("node")]
    assert "10:3" in executing and "10:5" in executing
    assert {d.get("node") for e, d in events if e == "progress"} == {"10:3"}


def test_a_bad_promoted_value_is_reported_on_the_inner_node(tmp_path):
    path = tmp_path / "sub.json"
    path.write_text(json.dumps(subgraph_workflow(steps=0)))
    done = subprocess.run([sys.executable, str(REPO / "main.py"), "run", str(path), "--base-directory", str(tmp_path),
                           "--cpu", "--no-progress"], cwd=REPO, capture_output=True, text=True, timeout=180)
    assert done.returncode == 2
    assert "KSampler #10:3, input 'steps'" in done.stderr, done.stderr
