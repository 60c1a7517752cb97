"""Seeded kohya-format LoRA files (lora_down/lora_up/alpha) for the test models."""
import torch


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
