import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Small tensors: one intra-op thread; on a shared 2-core box thread hand-offs cost more than the math."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def controlnet_manifest():
    from tests.testdata import manifest
    return manifest("controlnet_v11_sd15")
