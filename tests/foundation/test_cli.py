"""``python main.py run``: headless runs of API and UI workflow files, overrides, exit codes, errors."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACK = Path(__file__).resolve().parent / "testpack"


@pytest.fixture()
def base(tmp_path):
    """A base directory whose custom_nodes/ holds the test pack, as a user would install it."""
    (tmp_path / "custom_nodes").mkdir()
    shutil.copytree(PACK, tmp_path / "custom_nodes" / "testpack", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def run_cli(base, *args):
    cmd = [sys.executable, str(REPO / "main.py"), "run", *args, "--base-directory", str(base)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=base)


def write(base, name, data):
    path = base / name
    path.write_text(json.dumps(data))
    return path


API = {"1": {"class_type": "TestConst", "inputs": {"value": 2}},
       "2": {"class_type": "TestConst", "inputs": {"value": 3}},
       "3": {"class_type": "TestAdd", "inputs": {"a": ["1", 0], "b": ["2", 0]}},
       "4": {"class_type": "TestOutput", "inputs": {"value": ["3", 0]}}}


def test_runs_an_api_workflow_and_prints_outputs(base):
    proc = run_cli(base, str(write(base, "wf.json", API)))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["4"]["value"] == [5]


def test_set_overrides_an_input(base):
    proc = run_cli(base, str(write(base, "wf.json", API)), "--set", "2.value=40")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["4"]["value"] == [42]


def test_set_on_a_missing_node_is_a_clear_error(base):
    proc = run_cli(base, str(write(base, "wf.json", API)), "--set", "99.value=1")
    assert proc.returncode == 2 and "no node '99'" in proc.stderr


def test_validation_errors_are_printed_with_node_input_and_reason(base):
    proc = run_cli(base, str(write(base, "wf.json", API)), "--set", "1.value=-99999999")
    assert proc.returncode == 2
    assert "TestConst #1, input 'value': Value -99999999 smaller than min of -1000000" in proc.stderr


def test_execution_error_exits_nonzero_naming_the_node(base):
    bad = dict(API, **{"3": {"class_type": "TestFail", "inputs": {"value": ["1", 0]}}})
    proc = run_cli(base, str(write(base, "wf.json", bad)))
    assert proc.returncode == 1
    assert "TestFail #3 failed: ValueError: this node always fails (got 2)" in proc.stderr


def test_runs_a_ui_format_workflow(base):
    ui = {"last_node_id": 3, "last_link_id": 2, "version": 0.4, "groups": [], "config": {}, "extra": {},
          "nodes": [
              {"id": 1, "type": "TestConst", "pos": [0, 0], "size": [200, 60], "flags": {}, "order": 0, "mode": 0,
               "inputs": [], "outputs": [{"name": "INT", "type": "INT", "links": [1]}], "properties": {},
               "widgets_values": [7]},
              {"id": 2, "type": "TestOutput", "pos": [300, 0], "size": [200, 60], "flags": {}, "order": 1,
               "mode": 0, "inputs": [{"name": "value", "type": "*", "link": 1}], "outputs": [], "properties": {},
               "widgets_values": []}],
          "links": [[1, 1, 0, 2, 0, "INT"]]}
    proc = run_cli(base, str(write(base, "ui.json", ui)))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["2"]["value"] == [7]


def test_missing_workflow_file(base):
    proc = run_cli(base, str(base / "nope.json"))
    assert proc.returncode == 2 and "not found" in proc.stderr


def test_unknown_node_type_is_reported(base):
    proc = run_cli(base, str(write(base, "wf.json", {"1": {"class_type": "NoSuchNode", "inputs": {}}})))
    assert proc.returncode == 2 and "NoSuchNode" in proc.stderr


def test_disable_all_custom_nodes_removes_the_pack(base):
    proc = run_cli(base, str(write(base, "wf.json", API)), "--disable-all-custom-nodes")
    assert proc.returncode == 2 and "TestConst" in proc.stderr


def test_remote_client_reads_the_workflow_a_png_carries(tmp_path):
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from core.cli.remote import load_workflow

    info = PngInfo()
    info.add_text("prompt", json.dumps(API))
    Image.new("RGB", (2, 2)).save(tmp_path / "made.png", pnginfo=info)
    assert load_workflow(tmp_path / "made.png") == (API, None)


def test_remote_client_refuses_a_file_that_holds_no_workflow_naming_it(tmp_path):
    from core.cli.remote import EXIT_REFUSED, RemoteError, load_workflow

    (tmp_path / "fake.png").write_text(json.dumps({"hello": "world"}))
    with pytest.raises(RemoteError, match="fake.png: neither a UI workflow") as refused:
        load_workflow(tmp_path / "fake.png")
    assert refused.value.code == EXIT_REFUSED


def test_remote_client_takes_a_png_prompt_over_its_workflow_as_a_local_run_does(tmp_path):
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from core.cli.remote import load_workflow

    ui = {"nodes": [], "links": [], "version": 0.4}
    info = PngInfo()
    info.add_text("workflow", json.dumps(ui))
    info.add_text("prompt", json.dumps(API))
    Image.new("RGB", (2, 2)).save(tmp_path / "made.png", pnginfo=info)
    assert load_workflow(tmp_path / "made.png") == (API, ui)  # re-converting the UI graph would re-roll {a|b}


def test_a_malformed_set_is_a_workflow_error_in_both_clients():
    from core.cli.headless import WorkflowError, apply_overrides
    from core.cli.remote import RemoteError, apply_sets

    for item, reason in (("steps=3", "expected NODE_ID.INPUT=VALUE"), ("9.steps=3", "no node '9' .ids: 1, 2, 3, 4")):
        with pytest.raises(WorkflowError, match=reason):
            apply_overrides(json.loads(json.dumps(API)), [item])
        with pytest.raises(RemoteError, match=reason):
            apply_sets(json.loads(json.dumps(API)), [item])
