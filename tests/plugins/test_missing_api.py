"""ComfyUI names Latentflow lacks: importing them works, using them fails naming them (core/compat/missing.py)."""
from __future__ import annotations

import pytest

from comfypacks import run


def test_pack_importing_missing_names_loads(comfy_registry):
    assert {"UsesAttention", "MakesHookGroup", "Plain"} <= set(comfy_registry.names())
    assert not [f for f in comfy_registry.failures if f.pack == "missing_api_pack"]


def test_other_nodes_of_that_pack_run(comfy_registry):
    result, _ = run(comfy_registry, {"1": {"class_type": "Plain", "inputs": {"value": 3}}})
    assert result.success and result.outputs["1"] == {"value": [30]}


def test_using_a_missing_function_fails_naming_it(comfy_registry):
    result, _ = run(comfy_registry, {"1": {"class_type": "UsesAttention", "inputs": {"value": 1}},
                                     "2": {"class_type": "Plain", "inputs": {"value": ["1", 0]}}})
    assert not result.success and result.error["node_type"] == "UsesAttention"
    assert "comfy.ldm.modules.attention.optimized_attention" in result.error["exception_message"]


def test_instantiating_a_subclass_of_a_missing_class_fails_naming_the_base(comfy_registry):
    result, _ = run(comfy_registry, {"1": {"class_type": "MakesHookGroup", "inputs": {}},
                                     "2": {"class_type": "Plain", "inputs": {"value": ["1", 0]}}})
    assert not result.success and "comfy.hooks.HookGroup" in result.error["exception_message"]


def test_names_comfyui_never_had_stay_ordinary_errors(comfy_registry):
    import comfy.utils

    assert not hasattr(comfy.utils, "no_such_comfy_function")
    with pytest.raises(ModuleNotFoundError):
        import comfy.no_such_comfy_module  # noqa: F401


def test_placeholder_attribute_reads_name_the_attribute_and_answer_hasattr():
    from core.compat.missing import UnsupportedComfyAPI, placeholder

    thing = placeholder("comfy.example.Thing")
    assert not hasattr(thing, "method") and getattr(thing, "method", None) is None
    with pytest.raises(UnsupportedComfyAPI, match=r"comfy\.example\.Thing\.method is a ComfyUI name"):
        thing.method


def test_a_missing_comfy_module_failure_names_the_comfyui_api_not_requirements(comfy_registry):
    failure = next(f for f in comfy_registry.failures if f.pack == "needs_comfy_module")
    assert "ComfyUI module comfy.not_a_comfy_module is not provided" in failure.error
    assert "requirements.txt" not in failure.error
