"""Apply a rank-32 kohya LoRA to a full-size SD1.5 U-Net + CLIP-L on the CPU: time and peak RSS.

Peers measured in the same run: a plain safetensors load of the LoRA file (RSS), the model's own size,
and the current patcher (full backups of patched weights) beside core.models.lora.ExactMerge.
Random weights, fp16 U-Net as usually run; nothing downloaded. Last line: JSON with *_ratio fields.
Run: .venv/bin/python bench/lora.py   (needs ~4 GB RAM)
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402
import torch  # noqa: E402


def rss() -> int:
    return psutil.Process().memory_info().rss


def main():
    from safetensors.torch import load_file, save_file

    from core.models.lora import ExactMerge, key_map, lora_patches
    from core.models.patcher import MergedPatches
    from core.models.unet import UNetConfig, UNetModel

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", torch.get_num_threads())))
    dtype = torch.float16
    torch.manual_seed(0)
    unet = UNetModel(UNetConfig()).to(dtype).eval().requires_grad_(False)
    prefix = "model.diffusion_model."
    params = {prefix + k: v for k, v in unet.named_parameters()}
    model_bytes = sum(v.numel() * v.element_size() for v in params.values())
    kmap = key_map(params)
    lora, rank = {}, 32
    for name, (key, _) in kmap.items():  # the kohya module set: every Linear/1x1 conv in the transformers
        if name.startswith("lora_unet_") and ("_attentions_" in name) and params[key].ndim in (2, 4) \
                and params[key].shape[2:] in ((), (1, 1)):
            w = params[key]
            lora[name + ".lora_down.weight"] = (torch.randn(rank, w.shape[1], *w.shape[2:]) * 0.01).half()
            lora[name + ".lora_up.weight"] = (torch.randn(w.shape[0], rank, *w.shape[2:]) * 0.01).half()
            lora[name + ".alpha"] = torch.tensor(16.0).half()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "lora.safetensors")
        save_file(lora, path)
        file_bytes = os.path.getsize(path)
        del lora
        base = rss()
        t = time.perf_counter()
        sd = load_file(path)
        load_s = time.perf_counter() - t
        load_rss = rss() - base
    patches, unmatched = lora_patches(sd, kmap, 1.0)
    assert not unmatched, unmatched[:5]
    results = {"lora_file_mb": file_bytes / 2**20, "model_mb": model_bytes / 2**20, "patched_weights": len(patches),
               "threads": torch.get_num_threads(), "peer_safetensors_load_s": load_s,
               "peer_safetensors_load_rss_mb": load_rss / 2**20}
    for label, make in (("exact", lambda: ExactMerge(params, patches)),
                        ("patcher", lambda: MergedPatches(unet, patches, prefix))):
        before_bits = params[next(iter(patches))].clone()
        base = rss()
        peak = base
        t = time.perf_counter()
        merged = make()
        apply_s = time.perf_counter() - t
        peak = max(peak, rss())
        t = time.perf_counter()
        if label == "exact":
            saved = merged.saved_elements
        merged.restore()
        restore_s = time.perf_counter() - t
        assert torch.equal(params[next(iter(patches))], before_bits)
        results[f"{label}_apply_s"] = apply_s
        results[f"{label}_restore_s"] = restore_s
        results[f"{label}_rss_growth_mb"] = (peak - base) / 2**20
        if label == "exact":
            results["exact_saved_elements_mb"] = saved * 6 / 2**20  # int32 index + fp16 value
        del merged
    results["apply_s_vs_1s_ratio"] = results["exact_apply_s"] / 1.0
    results["exact_rss_growth_to_lora_file_ratio"] = results["exact_rss_growth_mb"] / results["lora_file_mb"]
    results["patcher_rss_growth_to_lora_file_ratio"] = results["patcher_rss_growth_mb"] / results["lora_file_mb"]
    results["exact_apply_to_safetensors_load_ratio"] = results["exact_apply_s"] / max(load_s, 1e-9)
    for k, v in results.items():
        print(f"{k:45s} {v:.3f}" if isinstance(v, float) else f"{k:45s} {v}")
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in results.items()}))


if __name__ == "__main__":
    main()
