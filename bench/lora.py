"""Apply a rank-32 kohya LoRA to a full-size SD1.5 U-Net + CLIP-L on the CPU: time and peak RSS.

Measured: core.models.patcher.MergedPatches (in-place chunked merge, undo log) apply and restore.
Peers in the same run: a plain safetensors load of the LoRA file (time, RSS), the model's own size, and
a naive merge (clone every patched weight as backup, whole-weight float32 W + Δ) as the baseline.
Random weights, fp16 U-Net as usually run; nothing downloaded. Last line: JSON with *_ratio fields.
Run: BENCH_THREADS=2 .venv/bin/python bench/lora.py   (needs ~3 GB RAM; BENCH_REPEAT=n takes the best of n)
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


def trim() -> None:
    """Give freed heap back to the OS so an RSS baseline does not hide reuse of earlier garbage."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


class PeakRss:
    """Highest RSS seen while the block runs (sampled every millisecond on a thread)."""

    def __enter__(self):
        import threading

        self.peak, self._stop = rss(), False

        def sample():
            while not self._stop:
                self.peak = max(self.peak, rss())
                time.sleep(0.001)
        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop = True
        self._thread.join()
        self.peak = max(self.peak, rss())


class NaiveMerge:
    """Baseline: back up each patched weight whole, merge W + Σ Δ in float32 per weight."""

    def __init__(self, params, patches):
        self.backups = []
        with torch.no_grad():
            for key, plist in patches.items():
                w = params[key]
                self.backups.append((w, w.clone()))
                merged = w.float()
                for p in plist:
                    merged = merged + p.delta(w)
                w.copy_(merged.to(w.dtype))

    def restore(self):
        with torch.no_grad():
            for w, original in self.backups:
                w.copy_(original)
        self.backups.clear()


def main():
    from safetensors.torch import load_file, save_file

    from core.models.lora import key_map, lora_patches
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
    repeat = int(os.environ.get("BENCH_REPEAT", 3))
    probe = next(iter(patches))
    before_bits = params[probe].clone()
    for label, make in (("merge", lambda: MergedPatches.into_module(unet, patches, prefix)),
                        ("naive", lambda: NaiveMerge(params, patches))):
        best = None
        for _ in range(repeat):
            trim()
            base = rss()
            with PeakRss() as peak:
                t = time.perf_counter()
                merged = make()
                apply_s = time.perf_counter() - t
            growth = peak.peak - base
            saved = getattr(merged, "saved_bytes", 0)
            t = time.perf_counter()
            merged.restore()
            restore_s = time.perf_counter() - t
            assert torch.equal(params[probe].view(torch.int16), before_bits.view(torch.int16))
            del merged
            run = (apply_s, restore_s, growth, saved)
            best = run if best is None or apply_s < best[0] else best
        results[f"{label}_apply_s"], results[f"{label}_restore_s"] = best[0], best[1]
        results[f"{label}_rss_growth_mb"] = best[2] / 2**20
        if label == "merge":
            results["merge_undo_log_mb"] = best[3] / 2**20
            results["merge_undo_log_to_patched_bytes_ratio"] = best[3] / sum(
                params[k].numel() * params[k].element_size() for k in patches)
    results["merge_apply_s_vs_1s_ratio"] = results["merge_apply_s"] / 1.0
    results["merge_rss_growth_to_lora_file_ratio"] = results["merge_rss_growth_mb"] / results["lora_file_mb"]
    results["naive_rss_growth_to_lora_file_ratio"] = results["naive_rss_growth_mb"] / results["lora_file_mb"]
    results["merge_apply_to_naive_ratio"] = results["merge_apply_s"] / results["naive_apply_s"]
    results["merge_apply_to_safetensors_load_ratio"] = results["merge_apply_s"] / max(load_s, 1e-9)
    for k, v in results.items():
        print(f"{k:45s} {v:.3f}" if isinstance(v, float) else f"{k:45s} {v}")
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in results.items()}))


if __name__ == "__main__":
    main()
