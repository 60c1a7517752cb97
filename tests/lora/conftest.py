import json
from pathlib import Path

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


def kohya_lora_for(keys_and_shapes: dict, kmap: dict, prefix: str, rank: int = 4, seed: int = 0, alpha: float = 2.0,
                   only=None) -> dict:
    """A kohya-format LoRA with one module per map entry whose name starts with ``prefix``."""
    gen = torch.Generator().manual_seed(seed)
    chosen = {}  # one module per weight, named as kohya would: diffusers paths, lora_te_ (SD1) / lora_te1_ (SDXL)
    for name, (key, part) in kmap.items():
        if not name.startswith(prefix) or part is not None or "embedding" in key or (only and not only(key)):
            continue
        te_pref = name.startswith("lora_te_") == key.startswith("cond_stage_model.")
        ldm_style = any(s in name for s in ("input_blocks", "output_blocks", "middle_block"))
        rank_ = (not te_pref, ldm_style, name)
        if key not in chosen or rank_ < chosen[key][0]:
            chosen[key] = (rank_, name)
    sd = {}
    for key, (_, name) in sorted(chosen.items()):
        shape = keys_and_shapes[key]
        if len(shape) not in (2, 4):
            continue
        out, inp = shape[0], shape[1]
        kernel = tuple(shape[2:])
        sd[name + ".lora_down.weight"] = torch.randn((rank, inp) + kernel, generator=gen) * 0.1
        sd[name + ".lora_up.weight"] = torch.randn((out, rank) + (1,) * len(kernel), generator=gen) * 0.1
        sd[name + ".alpha"] = torch.tensor(alpha)
    return sd


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Small tensors: one intra-op thread; on a shared 2-core box thread hand-offs cost 30x the math."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
