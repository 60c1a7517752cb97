import json
import math

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


def tiny_controlnet_state_dict(seed: int = 0) -> dict:
    """A seeded ControlNet for the tiny SD1.5 U-Net of core.models.tiny, in the released key layout."""
    from core.models.controlnet import ControlNet
    from core.models.tiny import tiny_unet_config

    with torch.device("meta"):
        shapes = ControlNet(tiny_unet_config("sd15")).state_dict()
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for k, v in shapes.items():
        if v.ndim >= 2:
            sd[k] = torch.randn(v.shape, generator=gen) / math.sqrt(math.prod(v.shape[1:]))
        elif "norm" in k or "in_layers.0" in k or "out_layers.0" in k:
            sd[k] = (1.0 if k.endswith("weight") else 0.0) + 0.05 * torch.randn(v.shape, generator=gen)
        else:
            sd[k] = 0.02 * torch.randn(v.shape, generator=gen)
    return {"control_model." + k: t for k, t in sd.items()}
