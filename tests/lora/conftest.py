import pytest
import torch


@pytest.fixture(scope="session")
def manifest():
    from tests.testdata import manifest as load
    return load


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """family -> (ModelHandle, ClipHandle) of a tiny seeded checkpoint (shared across tests: never mutate)."""
    from core.models.checkpoint import load_checkpoint
    from core.models.tiny import write_tiny_checkpoint

    cache = {}

    def get(family="sd15"):
        if family not in cache:
            path = write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / f"{family}.safetensors", family)
            model, clip, _ = load_checkpoint(path, output_vae=False, unet_dtype=torch.float32, clip_dtype=torch.float32)
            cache[family] = (model, clip)
        return cache[family]
    return get


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Small tensors: one intra-op thread; on a shared 2-core box thread hand-offs cost 30x the math."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
