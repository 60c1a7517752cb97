"""Apply a rank-32 kohya LoRA to a full-size SD1.5 (U-Net + CLIP-L) on the CPU: seconds and peak RSS.

The LoRA has the 264 modules of the common kohya 'LierLa' file (192 U-Net transformer Linear/1x1
layers + 72 CLIP-L attention/MLP layers; reference/checkpoints/lora_sd15_kohya_rank4.json) at rank 32,
fp16, seeded random factors; the models are fp16 with seeded random weights, built on meta and filled
once (no initialiser pass). Nothing is downloaded. Measured through the real path:
- loader: core.models.weights.load_file + load_lora_for_models (what LoraLoader runs once per strength);
- apply / restore: the handles' activation hooks (devices.manager.activate on the CPU), i.e. the exact
  in-place merge with its undo log (core.models.patcher), U-Net and CLIP; restore checked bit for bit.
Peers in the same run, alternating with ours, best of --repeat:
- inplace: a plain in-place ``W += scale * up @ down`` loop over the same weights (float32 product, no
  undo: removing the LoRA could not give the base back);
- backup: clone every patched weight, merge in float32 (exact restore by copying the clones back);
- safetensors.torch.load_file of the LoRA file.
Peak RSS growth is VmHWM (reset through /proc/self/clear_refs) minus the RSS before each call.
Target (issue 5): apply < 1 s and peak RSS growth a few times the LoRA file at most.
Last line: one JSON object; ratios are named *_ratio. Spread: min / median / max over the repeats.
Usage: BENCH_THREADS=2 .venv/bin/python bench/lora.py [--repeat 5] [--keep DIR]   (about 3 GB RAM)
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MANIFEST = ROOT / "tests" / "data" / "reference" / "checkpoints" / "lora_sd15_kohya_rank4.json"
RANK = 32

log = logging.getLogger("bench.lora")


# --- memory -----------------------------------------------------------------------------------------

def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def trim() -> None:
    """Free garbage and give the heap back, so each measurement starts from the same RSS."""
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@contextlib.contextmanager
def measured(out: dict):
    """``out['s']`` wall seconds and ``out['rss']`` peak RSS growth (bytes) of the block."""
    trim()
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    base = _status("VmRSS")
    t = time.perf_counter()
    yield out
    out["s"] = time.perf_counter() - t
    out["rss"] = _status("VmHWM") - base


# --- models and LoRA file -----------------------------------------------------------------------------

def _fill(module, gen, dtype):
    """Each tensor of a meta-built module filled once: uniform, variance ~1/fan_in (LayerNorm gains 1)."""
    import torch

    sd = {}
    for k, t in module.state_dict().items():
        if not t.is_floating_point():
            sd[k] = torch.zeros(t.shape, dtype=t.dtype)
            continue
        fan_in = t[0].numel() if t.ndim > 1 else 50
        bound = (3.0 / fan_in) ** 0.5
        sd[k] = torch.empty(t.shape, dtype=dtype).uniform_(-bound, bound, generator=gen)
    module.load_state_dict(sd, strict=True, assign=True)
    return module.eval().requires_grad_(False)


def sd15_handles(dtype):
    """(ModelHandle, ClipHandle) of a full-size SD1.5 with random weights in ``dtype``."""
    import torch

    from core.models.clip import CLIP_L, ClipTextEncoder
    from core.models.detection import ModelConfig
    from core.models.handles import ModelHandle
    from core.models.latent_formats import SD15
    from core.models.text_encoder import SD1_L, ClipHandle, Encoder
    from core.models.unet import UNetConfig, UNetModel

    gen = torch.Generator().manual_seed(0)
    cfg = UNetConfig()  # the defaults are SD1.5's
    with torch.device("meta"):
        unet, text = UNetModel(cfg), ClipTextEncoder(CLIP_L)
    unet, text = _fill(unet, gen, dtype), _fill(text, gen, dtype)
    text.transformer.embeddings.position_ids = torch.arange(CLIP_L.max_positions)[None]
    model = ModelHandle(unet, ModelConfig(family="sd1", prediction="eps", unet=cfg), SD15, name="sd15-random")
    clip = ClipHandle([Encoder(SD1_L, text, "cond_stage_model.transformer.")], "sd1", embedding_dirs=[])
    return model, clip


def write_lora(path: Path, model, clip) -> None:
    """A kohya rank-32 fp16 LoRA over the reference module set (or every transformer Linear/1x1 without it)."""
    import torch
    from safetensors.torch import save_file


    shapes = {k: tuple(v.shape) for k, v in model.unet.state_dict().items()}
    shapes = {"model.diffusion_model." + k: v for k, v in shapes.items()}
    shapes.update({k: tuple(v.shape) for k, v in clip.state_dict().items()})
    targets = json.loads(MANIFEST.read_text())["targets"]
    gen = torch.Generator().manual_seed(1)
    sd = {}
    for name, key in sorted(targets.items()):
        out, inp, *kernel = shapes[key]
        sd[name + ".lora_down.weight"] = (torch.randn(RANK, inp, *kernel, generator=gen) * 0.01).half()
        sd[name + ".lora_up.weight"] = (torch.randn(out, RANK, *[1] * len(kernel), generator=gen) * 0.01).half()
        sd[name + ".alpha"] = torch.tensor(16.0).half()
    save_file(sd, str(path))


# --- peers --------------------------------------------------------------------------------------------

def _weights(model, clip, keys):
    """{checkpoint key: the tensor the patcher would merge into} (single-piece weights only: SD1.5)."""
    from core.models.patcher import resolve

    out = {}
    for key in keys:
        if key.startswith("model.diffusion_model."):
            out[key] = resolve(model.unet, key, "model.diffusion_model.")
        else:
            (piece,) = clip._pieces(key)
            out[key] = piece
    return out


def _factors(patch, like):
    return patch.low_rank(like)


def inplace_merge(weights: dict, patches: dict) -> None:
    """The plain loop: ``W += up @ down`` in float32, rounded into W in place. Not reversible."""
    import torch

    with torch.no_grad():
        for key, plist in patches.items():
            w = weights[key]
            for p in plist:
                up, down = _factors(p, w)
                w.add_((up @ down).view(w.shape))


def backup_merge(weights: dict, patches: dict) -> list:
    """Clone each patched weight, merge in float32; returns the clones for the restore."""
    import torch

    backups = []
    with torch.no_grad():
        for key, plist in patches.items():
            w = weights[key]
            backups.append((w, w.clone()))
            merged = w.float()
            for p in plist:
                up, down = _factors(p, w)
                merged += (up @ down).view(w.shape)
            w.copy_(merged)
    return backups


# --- main ---------------------------------------------------------------------------------------------

def spread(values) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=int(os.environ.get("BENCH_REPEAT", 5)))
    parser.add_argument("--keep", help="folder to keep the LoRA file in between runs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import torch
    from safetensors.torch import load_file as st_load_file

    from core import devices
    from core.models.lora import load_lora_for_models
    from core.models.weights import load_file

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", torch.get_num_threads())))
    devices.configure({"cpu": True})
    cpu = torch.device("cpu")
    t = time.perf_counter()
    model, clip = sd15_handles(torch.float16)
    log.info("built fp16 SD1.5 U-Net + CLIP-L in %.1f s", time.perf_counter() - t)

    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="latentflow_bench_lora_"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"lora_sd15_kohya_rank{RANK}_fp16.safetensors"
    if not path.exists():
        write_lora(path, model, clip)
    file_bytes = path.stat().st_size

    try:
        # loader (the node): read the file, map names, add patches to clones; first call is cold
        loader = {}
        with measured(loader):
            lora_sd, _ = load_file(path)
            patched_model, patched_clip, unmatched = load_lora_for_models(model, clip, lora_sd, 1.0, 1.0)
        assert not unmatched, unmatched[:5]
        loader_runs = [loader["s"]]
        for _ in range(2):
            t = time.perf_counter()
            load_lora_for_models(model, clip, load_file(path)[0], 1.0, 1.0)
            loader_runs.append(time.perf_counter() - t)
        patches = {**patched_model.patches, **patched_clip.patches}
        weights = _weights(model, clip, patches)
        patched_bytes = sum(w.numel() * w.element_size() for w in weights.values())
        originals = {k: w.clone() for k, w in weights.items()}  # to check restores, and to undo the peers

        def ours():
            stack = contextlib.ExitStack()
            apply, restore = {}, {}
            with measured(apply):
                t0 = time.perf_counter()
                stack.enter_context(devices.manager.activate(patched_model, cpu))
                t1 = time.perf_counter()
                stack.enter_context(devices.manager.activate(patched_clip, cpu))
            apply["unet_s"], apply["clip_s"] = t1 - t0, time.perf_counter() - t1
            apply["log"] = patched_model._merged.saved_bytes + patched_clip._merged.saved_bytes
            changed = not torch.equal(weights[next(iter(patched_model.patches))], originals[next(iter(patched_model.patches))])
            with measured(restore):
                stack.close()
            assert changed, "the LoRA did not change the weights"
            bad = [k for k, w in weights.items() if not torch.equal(w.view(torch.int16), originals[k].view(torch.int16))]
            assert not bad, f"restore was not exact for {len(bad)} weights, e.g. {bad[:3]}"
            return apply, restore

        def peer(fn):
            run = {}
            with measured(run):
                fn(weights, patches)
            with torch.no_grad():
                for k, w in weights.items():
                    w.copy_(originals[k])
            return run

        def st_load():
            run = {}
            with measured(run):
                sd = st_load_file(str(path))
            del sd
            return run

        cold_apply, _ = ours()  # the first activation in this process: its pages and buffers are new
        peer(inplace_merge), peer(backup_merge)  # the peers' warm-up
        runs = {"apply": [], "restore": [], "inplace": [], "backup": [], "load": []}
        for r in range(args.repeat):  # alternate so background load hits all alike
            apply, restore = ours()
            runs["apply"].append(apply)
            runs["restore"].append(restore)
            runs["inplace"].append(peer(inplace_merge))
            runs["backup"].append(peer(backup_merge))
            runs["load"].append(st_load())
            log.info("run %d: apply %.3f s (U-Net %.3f, CLIP %.3f), restore %.3f s (+%.0f MB), peak +%.0f MB; in-place loop %.3f s "
                     "(+%.0f MB); backup merge %.3f s (+%.0f MB)", r, apply["s"], apply["unet_s"], apply["clip_s"],
                     restore["s"], restore["rss"] / 2**20, apply["rss"] / 2**20, runs["inplace"][-1]["s"], runs["inplace"][-1]["rss"] / 2**20,
                     runs["backup"][-1]["s"], runs["backup"][-1]["rss"] / 2**20)
    finally:
        if not args.keep:
            path.unlink(missing_ok=True)
            folder.rmdir()

    mb = 2**20
    best = min(runs["apply"], key=lambda a: a["s"])
    apply_s = [a["s"] for a in runs["apply"]]
    growth = max(a["rss"] for a in runs["apply"] + runs["restore"])  # worst case, not best
    inplace_s = min(p["s"] for p in runs["inplace"])
    backup_s = min(p["s"] for p in runs["backup"])
    load_s = min(p["s"] for p in runs["load"])
    result = {
        "bench": "lora", "model": "sd15 fp16 random (U-Net + CLIP-L)", "lora": f"kohya rank {RANK} fp16",
        "threads": torch.get_num_threads(), "repeats": args.repeat,
        "lora_file_mb": round(file_bytes / mb, 2), "patched_weights": len(patches),
        "patched_weights_mb": round(patched_bytes / mb, 1),
        "apply_s": round(best["s"], 3), "apply_unet_s": round(best["unet_s"], 3), "apply_clip_s": round(best["clip_s"], 3),
        "apply_s_spread": {k: round(v, 3) for k, v in spread(apply_s).items()},
        "cold_apply_s": round(cold_apply["s"], 3),
        "restore_s": round(min(r["s"] for r in runs["restore"]), 3),
        "loader_s": round(min(loader_runs[1:]), 3), "cold_loader_s": round(loader_runs[0], 3),
        "peak_rss_growth_mb": round(growth / mb, 1), "cold_peak_rss_growth_mb": round(cold_apply["rss"] / mb, 1),
        "undo_log_mb": round(best["log"] / mb, 1),
        "inplace_apply_s": round(inplace_s, 3),
        "inplace_peak_rss_growth_mb": round(max(p["rss"] for p in runs["inplace"]) / mb, 1),
        "backup_apply_s": round(backup_s, 3),
        "backup_peak_rss_growth_mb": round(max(p["rss"] for p in runs["backup"]) / mb, 1),
        "safetensors_load_s": round(load_s, 4),
        "apply_vs_1s_target_ratio": round(best["s"] / 1.0, 3),
        "apply_to_inplace_ratio": round(best["s"] / inplace_s, 3),
        "apply_to_backup_ratio": round(best["s"] / backup_s, 3),
        "restore_to_apply_ratio": round(min(r["s"] for r in runs["restore"]) / best["s"], 3),
        "peak_rss_growth_to_lora_file_ratio": round(growth / file_bytes, 3),
        "undo_log_to_lora_file_ratio": round(best["log"] / file_bytes, 3),
        "undo_log_to_patched_weights_ratio": round(best["log"] / patched_bytes, 4),
        "inplace_rss_growth_to_lora_file_ratio": round(max(p["rss"] for p in runs["inplace"]) / file_bytes, 3),
        "backup_rss_growth_to_lora_file_ratio": round(max(p["rss"] for p in runs["backup"]) / file_bytes, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
