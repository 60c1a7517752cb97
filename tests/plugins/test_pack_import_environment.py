"""What packs find when they import, and how the loader treats what they do (issue 12's non-import faults)."""
from __future__ import annotations

import json
import logging

from comfypacks import probe, run


def test_torch_is_imported_and_output_exists_before_any_pack(comfy_registry):
    result, seen = run(comfy_registry, {"1": {"class_type": "Fine", "inputs": {}},
                                        "2": probe("1", 0, "torch"), "3": probe("1", 1, "output")})
    assert result.success, result.error
    assert seen == {"torch": True, "output": True}


def test_display_only_node_without_function_is_registered(comfy_registry):
    info = comfy_registry.object_info()
    assert "Note" in info and info["Note"]["output"] == []


def test_running_a_display_only_node_fails_naming_it(comfy_registry):
    import asyncio

    import pytest

    from core.execution.node_call import start_calls

    cls = comfy_registry.get("Note")
    with pytest.raises(TypeError, match="Note is a display-only node"):
        asyncio.run(start_calls(cls(), cls, getattr(cls, "FUNCTION", None), {"text": ["x"]}, "1"))


def test_node_with_non_json_inputs_is_left_out_of_object_info_only(comfy_registry, caplog):
    with caplog.at_level(logging.WARNING, logger="core.execution.registry"):
        info = comfy_registry.object_info()
    assert "NotJson" not in info and "Fine" in info
    json.dumps(info)
    assert any("NotJson" in r.getMessage() and "not JSON" in r.getMessage() for r in caplog.records) or \
        "NotJson" in comfy_registry._unserialisable


def test_pack_calling_sys_exit_is_a_recorded_failure(comfy_registry):
    failure = next(f for f in comfy_registry.failures if f.pack == "exits_pack")
    assert "sys.exit(1)" in failure.error


def test_a_process_started_while_importing_is_logged_with_its_command(tmp_path, caplog, folders, registry):
    import shutil

    from comfypacks import COMFY_PACKS
    from core.custom_nodes import load_custom_nodes

    shutil.copytree(COMFY_PACKS / "quirks_pack", tmp_path / "packs" / "quirks_pack")
    with caplog.at_level(logging.WARNING, logger="core.custom_nodes"):
        load_custom_nodes(registry, [tmp_path / "packs"])
    messages = [r.getMessage() for r in caplog.records]
    assert any("quirks_pack started a process while importing" in m and "-c pass" in m for m in messages)


def test_a_node_whose_class_attributes_raise_skips_only_itself(comfy_registry):
    assert "BrokenSchema" not in comfy_registry and "Fine" in comfy_registry
    failure = next(f for f in comfy_registry.failures if f.pack == "quirks_pack")
    assert "BrokenSchema" in failure.error and "schema built from an API this host lacks" in failure.error
