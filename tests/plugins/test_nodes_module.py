"""The ``nodes`` module as packs see it: built-in classes, ComfyUI's helpers and globals."""
from __future__ import annotations

import pytest


def job():
    from core.execution.progress import InterruptFlag, JobContext

    return JobContext(prompt_id="p", node_id="1", interrupt=InterruptFlag(), emit=lambda *a: None)


def test_interrupt_processing_stops_the_running_job_at_the_next_before_node_execution():
    import nodes
    from core.execution.progress import Interrupted, job_context

    with job_context(job()) as ctx:
        nodes.before_node_execution()  # nothing requested yet
        nodes.interrupt_processing()
        assert ctx.interrupt.is_set()
        with pytest.raises(Interrupted):
            nodes.before_node_execution()
        nodes.interrupt_processing(False)
        nodes.before_node_execution()


def test_module_globals_are_one_object_each_time():
    import nodes

    assert nodes.EXTENSION_WEB_DIRS is nodes.EXTENSION_WEB_DIRS and isinstance(nodes.EXTENSION_WEB_DIRS, dict)
    assert isinstance(nodes.LOADED_MODULE_DIRS, dict)
    assert nodes.MAX_RESOLUTION == 16384


def test_dir_lists_builtins_and_comfyui_names():
    import nodes

    listed = dir(nodes)
    assert {"KSampler", "SaveImage", "common_ksampler", "EXTENSION_WEB_DIRS", "CLIPVisionLoader"} <= set(listed)


def test_a_comfyui_builtin_we_lack_imports_and_is_subclassable_but_fails_when_instantiated():
    from nodes import DiffusersLoader

    class PackLoader(DiffusersLoader):  # at pack import: must work
        pass

    with pytest.raises(NotImplementedError, match="nodes.DiffusersLoader is a ComfyUI name"):
        DiffusersLoader()
    assert not hasattr(PackLoader, "INPUT_TYPES")  # so the registry refuses it by name, not with a crash
