"""Custom node packs load as in ComfyUI: order, skips, failures, overrides and the disable flag."""
from __future__ import annotations

import os

from packtools import NODE_SOURCE, write_pack


def load(registry, packs_dir, **kw):
    from core.custom_nodes import load_custom_nodes

    return load_custom_nodes(registry, [packs_dir], **kw)


def test_working_packs_load_and_register_their_nodes(registry, packs_dir, folders):
    loaded = load(registry, packs_dir)
    assert set(loaded) == {"thirdparty_pack", "single_file_nodes"}
    assert {"TP_StepCounter", "TP_DeviceName", "SF_Echo"} <= set(registry.names())


def test_display_names_come_from_the_pack_mapping(registry, packs_dir, folders):
    load(registry, packs_dir)
    assert registry.display_name("TP_StepCounter") == "Step Counter (third party)"
    assert registry.display_name("TP_DeviceName") == "TP_DeviceName"


def test_nodes_carry_the_custom_nodes_python_module(registry, packs_dir, folders):
    load(registry, packs_dir)
    info = registry.object_info()
    assert info["TP_StepCounter"]["python_module"] == "custom_nodes.thirdparty_pack"
    assert info["SF_Echo"]["python_module"] == "custom_nodes.single_file_nodes"
    assert registry.get("TP_StepCounter").RELATIVE_PYTHON_MODULE == "custom_nodes.thirdparty_pack"


def test_failing_pack_is_recorded_with_its_traceback(registry, packs_dir, folders):
    load(registry, packs_dir)
    broken = [f for f in registry.failures if f.pack == "broken_pack"]
    assert len(broken) == 1
    assert "broken pack exploded on import" in broken[0].error
    assert "Traceback" in broken[0].traceback and "broken_pack" in broken[0].traceback


def test_pack_without_mappings_is_a_failure(registry, packs_dir, folders):
    load(registry, packs_dir)
    assert any(f.pack == "no_mappings_pack" and "NODE_CLASS_MAPPINGS" in f.error for f in registry.failures)


def test_missing_dependency_failure_points_at_requirements_txt(registry, packs_dir, folders):
    load(registry, packs_dir)
    failure = next(f for f in registry.failures if f.pack == "needs_dependency")
    assert "latentflow_missing_dependency_xyz" in failure.error and "requirements.txt" in failure.error


def test_disabled_pycache_and_non_python_entries_are_skipped(registry, packs_dir, folders):
    (packs_dir / "__pycache__").mkdir()
    load(registry, packs_dir)
    seen = {f.pack for f in registry.failures} | {p[0] for p in registry.loaded_packs}
    assert seen == {"thirdparty_pack", "single_file_nodes", "broken_pack", "no_mappings_pack", "needs_dependency"}


def test_prestartup_script_runs_before_the_pack_is_imported(registry, packs_dir, folders):
    import sys

    load(registry, packs_dir)
    assert os.environ.get("THIRDPARTY_PRESTARTUP") == "ran"
    assert sys.modules["custom_nodes.thirdparty_pack"].PRESTARTUP_SEEN is True


def test_web_directory_is_registered_under_the_pack_name(registry, packs_dir, folders):
    load(registry, packs_dir)
    assert registry.web_directories["thirdparty_pack"] == str((packs_dir / "thirdparty_pack" / "js").resolve())


def test_builtin_nodes_cannot_be_overridden(registry, packs_dir, folders):
    from packtools import CoreNode

    write_pack(packs_dir, "hijack", NODE_SOURCE.format(cls="Fake", tag="fake")
               + "NODE_CLASS_MAPPINGS = {'CoreNode': Fake, 'HijackOwn': Fake}\n")
    load(registry, packs_dir)
    assert registry.get("CoreNode") is CoreNode
    assert registry.modules["HijackOwn"] == "custom_nodes.hijack"


def test_between_packs_the_later_one_wins(registry, tmp_path, folders):
    root = tmp_path / "two"
    for tag in ("alpha", "beta"):
        write_pack(root, f"pack_{tag}", NODE_SOURCE.format(cls="Shared", tag=tag)
                   + "NODE_CLASS_MAPPINGS = {'SharedNode': Shared}\n")
    loaded = load(registry, root)
    winner = loaded[-1]  # os.listdir order decides, as in ComfyUI
    assert registry.modules["SharedNode"] == f"custom_nodes.{winner}"
    assert registry.get("SharedNode")().run() == (winner.removeprefix("pack_"),)


def test_disable_all_loads_only_whitelisted_packs(registry, packs_dir, folders):
    loaded = load(registry, packs_dir, disable_all=True, whitelist=["single_file_nodes.py"])
    assert loaded == ["single_file_nodes"]
    assert "TP_StepCounter" not in registry and registry.failures == []


def test_default_folders_include_custom_nodes_from_extra_model_paths(registry, packs_dir, folders, tmp_path):
    from core.custom_nodes import load_custom_nodes

    yaml_file = tmp_path / "extra_model_paths.yaml"
    yaml_file.write_text(f"mine:\n  custom_nodes: {packs_dir}\n")
    folders.load_extra_model_paths(yaml_file)
    assert "thirdparty_pack" in load_custom_nodes(registry)

