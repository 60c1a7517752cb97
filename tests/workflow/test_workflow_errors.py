"""A broken workflow reports every problem at once, in the UI format and the API format alike."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from uigraph import ui_node, ui_workflow

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def registry():
    from core.execution.registry import NodeRegistry
    from nodes import register_builtin_nodes

    reg = NodeRegistry()
    register_builtin_nodes(reg)
    return reg


def broken_ui():
    """EmptyLatentImage with width 3 (< 16) -> unknown FancyLatent -> unknown MagicImage -> SaveImage."""
    return ui_workflow([
        ui_node(1, "EmptyLatentImage", outputs=[("LATENT", "LATENT", [1])], widgets_values=[3, 64, 1]),
        ui_node(2, "FancyLatent", inputs=[("samples", "LATENT", 1)], outputs=[("LATENT", "LATENT", [2])],
                widgets_values=[0.5]),
        ui_node(3, "MagicImage", inputs=[("latent", "LATENT", 2)], outputs=[("IMAGE", "IMAGE", [3])]),
        ui_node(4, "SaveImage", inputs=[("images", "IMAGE", 3)], widgets_values=["out"]),
    ], [[1, 1, 0, 2, 0, "LATENT"], [2, 2, 0, 3, 0, "LATENT"], [3, 3, 0, 4, 0, "IMAGE"]])


def problems(result) -> dict:
    return {node: sorted(e["type"] for e in entry["errors"]) for node, entry in result.node_errors.items()}


def test_ui_workflow_with_unknown_types_reports_each_of_them_and_the_other_errors(registry):
    from core.execution.validate import validate_prompt
    from core.workflow.formats import ui_to_api

    result = validate_prompt(registry, ui_to_api(broken_ui(), registry.object_info()))
    assert not result.ok
    assert problems(result) == {"1": ["value_smaller_than_min"], "2": ["missing_node_type"],
                                "3": ["missing_node_type"]}


def test_api_prompt_with_an_unknown_type_still_reports_the_other_errors(registry):
    from core.execution.validate import validate_prompt

    prompt = {"1": {"class_type": "EmptyLatentImage", "inputs": {"width": 3, "height": 64, "batch_size": 1}},
              "2": {"class_type": "FancyLatent", "inputs": {"samples": ["1", 0]}},
              "3": {"class_type": "VAEDecode", "inputs": {"samples": ["2", 0]}},
              "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "x"}}}
    result = validate_prompt(registry, prompt)
    assert result.error["message"] == "Cannot execute because node FancyLatent does not exist."
    assert problems(result) == {"1": ["value_smaller_than_min"], "2": ["missing_node_type"],
                                "3": ["required_input_missing"]}


def test_headless_run_prints_every_problem_and_the_file_path_once(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken_ui()))
    proc = subprocess.run([sys.executable, str(REPO / "main.py"), "run", str(path), "--base-directory",
                           str(tmp_path), "--disable-all-custom-nodes"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2
    for needle in ("FancyLatent #2", "MagicImage #3", "EmptyLatentImage #1, input 'width'"):
        assert needle in proc.stderr, proc.stderr
    assert proc.stderr.count(str(path)) <= 1


def test_a_file_that_is_not_json_names_its_path_once(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{nope")
    proc = subprocess.run([sys.executable, str(REPO / "main.py"), "run", str(path), "--base-directory",
                           str(tmp_path), "--disable-all-custom-nodes"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count(str(path)) == 1, proc.stderr
