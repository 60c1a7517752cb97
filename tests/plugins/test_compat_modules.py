"""A third-party pack's ComfyUI imports work: folder_paths, comfy.utils/model_management/samplers, server."""
from __future__ import annotations

import pytest


@pytest.fixture()
def pack(registry, packs_dir, folders):
    from core.custom_nodes import load_custom_nodes

    (folders.models_dir / "checkpoints").mkdir(parents=True)
    (folders.models_dir / "checkpoints" / "tiny.safetensors").write_bytes(b"")
    load_custom_nodes(registry, [packs_dir])
    return registry


def job(events, interrupt=False):
    from core.execution.progress import InterruptFlag, JobContext, job_context

    flag = InterruptFlag()
    if interrupt:
        flag.set()
    return job_context(JobContext("p1", "7", flag, lambda event, data: events.append((event, data))))


def test_folder_paths_lists_the_configured_model_folders(pack):
    info = pack.node_info("TP_StepCounter")
    assert info["input"]["required"]["ckpt_name"][0] == ["tiny.safetensors"]


def test_sampler_names_come_from_core_sampling(pack):
    from core.sampling.samplers import SAMPLER_NAMES

    assert pack.node_info("TP_StepCounter")["input"]["required"]["sampler_name"][0] == list(SAMPLER_NAMES)


def test_comfy_progress_bar_reports_through_the_running_job(pack):
    events = []
    with job(events):
        result = pack.get("TP_StepCounter")().count(3, "tiny.safetensors", "euler", unique_id="7")
    assert result == (6,)
    progress = [data["value"] for event, data in events if event == "progress"]
    assert progress == [1, 2, 3]


def test_interrupt_check_raises_the_core_interrupt(pack):
    from core.execution.progress import Interrupted

    with job([], interrupt=True), pytest.raises(Interrupted):
        pack.get("TP_StepCounter")().count(3, "tiny.safetensors", "euler")


def test_send_sync_reaches_subscribers_before_a_server_exists(pack):
    import server

    received = []
    server.PromptServer.instance.subscribe(lambda event, data, sid: received.append((event, data)))
    pack.get("TP_StepCounter")().count(2, "tiny.safetensors", "euler", unique_id="9")
    assert ("thirdparty.done", {"steps": 2, "node": "9"}) in received


def test_pack_routes_are_collected_for_the_server(pack):
    from core.compat import pending_routes

    assert any(getattr(r, "path", None) == "/thirdparty/hello" for r in pending_routes())


def test_torch_device_comes_from_core_devices(pack):
    from core import devices

    assert pack.get("TP_DeviceName")().run() == (str(devices.get_torch_device()),)


def test_get_save_image_path_counts_past_existing_files(folders):
    from core.compat import ensure_on_path

    ensure_on_path()
    import folder_paths

    out = folders.output_dir
    (out / "sub").mkdir(parents=True)
    (out / "sub" / "img_00004_.png").write_bytes(b"")
    folder, name, counter, subfolder, _ = folder_paths.get_save_image_path("sub/img", str(out))
    assert (name, counter, subfolder) == ("img", 5, "sub")
    with pytest.raises(ValueError, match="outside the output folder"):
        folder_paths.get_save_image_path("../escape", str(out))


def test_folder_paths_attributes_follow_reconfiguration(folders):
    from core.compat import ensure_on_path

    ensure_on_path()
    import folder_paths

    assert folder_paths.models_dir == str(folders.models_dir)
    assert folder_paths.get_output_directory() == str(folders.output_dir)
