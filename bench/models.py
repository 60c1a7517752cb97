"""Checkpoint loading and U-Net speed/memory on a full-size SD1.5 with random weights, beside peers.

Writes a complete SD1.5 single-file checkpoint (every key of reference/checkpoints/sd15.json, fp32,
seeded random weights) to a temp dir, then measures, each step in its own subprocess so peak memory is
separate:
- load: our load_checkpoint (U-Net + VAE + CLIP) vs a plain safetensors.torch.load_file of the file,
  both timed until the weights are usable: both map the file lazily, so every weight is read once
  (one element per 4 KiB page) inside the timed span. Best of --rounds alternating rounds, the page
  cache warmed (the whole file read) right before every run, a full gc before the timed span. Peak RSS
  is compared as growth over the process's RSS before the load (imports are not the load's);
- forward: one U-Net forward, 64x64 latent, batch 2, vs diffusers' UNet2DConditionModel holding the same
  weights (diffusers' own LDM key converter); peak RSS of each process.
--device cuda (fp16): load = ours straight to the GPU in fp16 vs load_file(device="cuda") then .half();
forward = mean of 20 timed forwards after 3 warm-ups, synchronised; peak CUDA memory of each process
(torch.cuda.max_memory_allocated: weights + activations).
Targets: load <= 1.3x plain safetensors with no more memory; forward <= 1.0x diffusers; peak memory
<= diffusers. Last line: one JSON object; ratios are ours / peer.
Usage: python bench/models.py [--keep DIR] [--device cpu|cuda] [--rounds N] [--skip-forward] [--manifest JSON]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MANIFEST = ROOT / "tests" / "data" / "reference" / "checkpoints" / "sd15.json"


def write_checkpoint(path: Path, manifest: Path = MANIFEST) -> None:
    import torch
    from safetensors.torch import save_file

    keys = json.loads(Path(manifest).read_text())["keys"]
    gen = torch.Generator().manual_seed(0)
    sd = {}
    for k, shape in keys.items():
        if k.endswith("position_ids"):
            sd[k] = torch.arange(77)[None]
            continue
        fan_in = 1
        for d in shape[1:]:
            fan_in *= d
        bound = (3.0 / max(fan_in, 50)) ** 0.5
        sd[k] = torch.empty(shape).uniform_(-bound, bound, generator=gen)
    save_file(sd, str(path))


def warm_page_cache(path: Path) -> None:
    """Read the whole file so the next run finds it in memory (other processes may have evicted it)."""
    buf = bytearray(64 << 20)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass


# --- subprocess bodies: each returns a dict, printed as one JSON line ------------------------------

def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_mb() -> float:
    """VmHWM of this process: unlike ru_maxrss it is not inherited from the parent across fork/exec."""
    return _status_mb("VmHWM")


def _touch(tensors) -> None:
    """Read every weight once (one element per 4 KiB page), so lazily mapped files are really read."""
    import torch

    total = torch.zeros(())
    for p in tensors:
        if p.is_floating_point():
            total += p.detach().reshape(-1)[:: max(1, 4096 // p.element_size())].sum()


def _timed_load(load, weights_of) -> dict:
    """``load()`` then a read of every weight; seconds to return, seconds to usable, RSS before and peak."""
    import gc

    gc.collect()  # no collection of the imports' garbage inside the timed span, for either side
    before = _status_mb("VmRSS")
    t = time.perf_counter()
    result = load()
    loaded = time.perf_counter() - t
    _touch(weights_of(result))
    return {"seconds": loaded, "usable_seconds": time.perf_counter() - t, "rss_before_mb": before}


def child_load_plain(path: str) -> dict:
    from safetensors.torch import load_file

    import torch  # noqa: F401

    return _timed_load(lambda: load_file(path), lambda sd: sd.values())


def _module_weights(loaded) -> list:
    model, clip, vae = loaded
    modules = [model.unet, vae.vae] + [m for m in getattr(clip, "modules", lambda: [])()]
    return [p for m in modules for p in m.parameters()]


def child_load_ours(path: str) -> dict:
    from core import devices
    import transformers.models.clip.modeling_clip  # noqa: F401  (transformers imports it lazily on first use;
    from core.models import text_encoder  # noqa: F401  a running server has paid that once, so not timed here)
    from core.models.checkpoint import load_checkpoint

    devices.configure({"cpu": True, "force_fp32": True})
    return _timed_load(lambda: load_checkpoint(path), _module_weights)


def _cuda_ready():
    import torch

    torch.zeros(1, device="cuda")  # context creation is no part of a load
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    return torch


def _cuda_peak_mb() -> float:
    import torch

    return torch.cuda.max_memory_allocated() / 2**20


def child_load_plain_cuda(path: str) -> dict:
    from safetensors.torch import load_file

    torch = _cuda_ready()
    t = time.perf_counter()
    sd = load_file(path, device="cuda")
    torch.cuda.synchronize()
    raw = time.perf_counter() - t
    sd = {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}  # what fp16 inference needs
    torch.cuda.synchronize()
    return {"seconds": time.perf_counter() - t, "load_file_seconds": raw, "peak_cuda_mb": _cuda_peak_mb()}


def child_load_ours_cuda(path: str) -> dict:
    from core import devices
    import transformers.models.clip.modeling_clip  # noqa: F401
    from core.models import text_encoder  # noqa: F401
    from core.models.checkpoint import load_checkpoint

    torch = _cuda_ready()
    devices.configure({"gpu_only": True, "force_fp16": True})
    t = time.perf_counter()
    model, clip, vae = load_checkpoint(path, vae_dtype=torch.float16)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t
    assert model.unet.input_blocks[0][0].weight.device.type == "cuda" and model.dtype == torch.float16
    return {"seconds": seconds, "peak_cuda_mb": _cuda_peak_mb(), "gpu": torch.cuda.get_device_name(0)}


def _inputs(batch: int, size: int, device: str = "cpu", dtype=None):
    import torch

    gen = torch.Generator().manual_seed(3)
    x, t, c = (torch.randn(batch, 4, size, size, generator=gen), torch.tensor([999.0, 500.0][:batch]),
               torch.randn(batch, 77, 768, generator=gen))
    return x.to(device, dtype), t.to(device), c.to(device, dtype)


def _time_forward(fn) -> float:
    import torch

    with torch.inference_mode():
        fn(*_inputs(2, 8))  # warm-up at a small size (allocator, kernels)
        x, t, c = _inputs(2, 64)
        start = time.perf_counter()
        fn(x, t, c)
        return time.perf_counter() - start


def _time_forward_cuda(fn, warmup: int = 3, iters: int = 20) -> dict:
    import torch

    with torch.inference_mode():
        x, t, c = _inputs(2, 64, "cuda", torch.float16)
        for _ in range(warmup):
            fn(x, t, c)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(iters):
            fn(x, t, c)
        torch.cuda.synchronize()
    return {"seconds": (time.perf_counter() - start) / iters, "peak_cuda_mb": _cuda_peak_mb()}


def child_forward_ours(path: str, device: str = "cpu") -> dict:
    from core import devices
    from core.models.checkpoint import load_checkpoint

    if device == "cuda":
        _cuda_ready()
        devices.configure({"gpu_only": True, "force_fp16": True})
        model, _, _ = load_checkpoint(path, output_clip=False, output_vae=False)
        return _time_forward_cuda(lambda x, t, c: model.unet(x, t, c))
    devices.configure({"cpu": True, "force_fp32": True})
    model, _, _ = load_checkpoint(path, output_clip=False, output_vae=False)
    return {"seconds": _time_forward(lambda x, t, c: model.unet(x, t, c))}


def child_forward_diffusers(path: str, device: str = "cpu") -> dict:
    import torch
    from diffusers import UNet2DConditionModel
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint
    from safetensors import safe_open

    if device == "cuda":
        _cuda_ready()
    config = dict(in_channels=4, out_channels=4, block_out_channels=[320, 640, 1280, 1280],
                  down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
                  up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3, layers_per_block=2,
                  cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32)
    with safe_open(path, framework="pt") as f:
        sd = {k: f.get_tensor(k) for k in f.keys() if k.startswith("model.diffusion_model.")}
    converted = convert_ldm_unet_checkpoint(sd, config)
    del sd
    with torch.device("meta"):
        unet = UNet2DConditionModel(**config)
    unet.load_state_dict(converted, strict=True, assign=True)
    del converted
    unet.eval()
    forward = lambda x, t, c: unet(x, t, encoder_hidden_states=c).sample  # noqa: E731
    if device == "cuda":
        unet.to("cuda", torch.float16)
        return _time_forward_cuda(forward)
    return {"seconds": _time_forward(forward)}


def run_child(name: str, path: Path, *args) -> dict:
    call = ", ".join(repr(str(a)) for a in (path, *args))
    code = (f"import sys, json; sys.path.insert(0, {str(ROOT)!r}); import bench.models as b; "
            f"r = b.child_{name}({call}); r['peak_rss_mb'] = b.peak_rss_mb(); print(json.dumps(r))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark step {name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def alternate(names: tuple, path: Path, rounds: int, log) -> dict:
    """``rounds`` runs of each child, alternating which goes first, the page cache warmed before each."""
    runs = {name: [] for name in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            warm_page_cache(path)
            runs[name].append(run_child(name, path))
        log.info("round %d: %s", r, ", ".join(f"{n} {runs[n][-1].get('usable_seconds', runs[n][-1]['seconds']):.3f} s"
                                             for n in names))
    return runs


def _best(runs: list, key: str) -> dict:
    return min(runs, key=lambda r: r[key])


def _growth(run: dict) -> float:
    return run["peak_rss_mb"] - run["rss_before_mb"]


def cpu_results(path: Path, rounds: int, forward: bool, log) -> dict:
    runs = alternate(("load_plain", "load_ours"), path, rounds, log)
    plain, ours = _best(runs["load_plain"], "usable_seconds"), _best(runs["load_ours"], "usable_seconds")
    plain_growth = max(_growth(r) for r in runs["load_plain"])
    ours_growth = max(_growth(r) for r in runs["load_ours"])
    log.info("load until usable (best of %d): ours %.3f s (returned after %.3f s, peak RSS +%.0f MB) vs load_file "
             "%.3f s (returned after %.3f s, peak RSS +%.0f MB)", rounds, ours["usable_seconds"], ours["seconds"],
             ours_growth, plain["usable_seconds"], plain["seconds"], plain_growth)
    result = {
        "device": "cpu", "dtype": "float32", "load_rounds": rounds,
        "load_s": round(ours["usable_seconds"], 3), "plain_load_s": round(plain["usable_seconds"], 3),
        "load_ratio": round(ours["usable_seconds"] / plain["usable_seconds"], 3),
        "load_s_runs": [round(r["usable_seconds"], 3) for r in runs["load_ours"]],
        "plain_load_s_runs": [round(r["usable_seconds"], 3) for r in runs["load_plain"]],
        "load_returned_s": round(ours["seconds"], 3), "plain_load_returned_s": round(plain["seconds"], 3),
        "load_rss_growth_mb": round(ours_growth), "plain_load_rss_growth_mb": round(plain_growth),
        "load_rss_ratio": round(ours_growth / plain_growth, 3),
        "load_peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs["load_ours"])),
        "plain_load_peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs["load_plain"])),
    }
    if forward:
        f_ours = run_child("forward_ours", path)
        f_diff = run_child("forward_diffusers", path)
        log.info("U-Net forward 64x64 b2: ours %.2f s (peak %.0f MB) vs diffusers %.2f s (peak %.0f MB)",
                 f_ours["seconds"], f_ours["peak_rss_mb"], f_diff["seconds"], f_diff["peak_rss_mb"])
        result.update({
            "forward_s": round(f_ours["seconds"], 3), "diffusers_forward_s": round(f_diff["seconds"], 3),
            "forward_ratio": round(f_ours["seconds"] / f_diff["seconds"], 3),
            "forward_peak_rss_mb": round(f_ours["peak_rss_mb"]), "diffusers_peak_rss_mb": round(f_diff["peak_rss_mb"]),
            "forward_rss_ratio": round(f_ours["peak_rss_mb"] / f_diff["peak_rss_mb"], 3),
        })
    return result


def cuda_results(path: Path, rounds: int, forward: bool, log) -> dict:
    runs = alternate(("load_plain_cuda", "load_ours_cuda"), path, rounds, log)
    plain, ours = _best(runs["load_plain_cuda"], "seconds"), _best(runs["load_ours_cuda"], "seconds")
    log.info("load to CUDA fp16 (best of %d): ours %.3f s (peak %.0f MiB) vs load_file(cuda) + half %.3f s "
             "(load_file alone %.3f s, peak %.0f MiB)", rounds, ours["seconds"], ours["peak_cuda_mb"],
             plain["seconds"], plain["load_file_seconds"], plain["peak_cuda_mb"])
    result = {
        "device": "cuda", "gpu": ours["gpu"], "dtype": "float16", "load_rounds": rounds,
        "load_s": round(ours["seconds"], 3), "plain_load_s": round(plain["seconds"], 3),
        "load_ratio": round(ours["seconds"] / plain["seconds"], 3),
        "plain_load_file_s": round(plain["load_file_seconds"], 3),
        "load_vs_load_file_ratio": round(ours["seconds"] / plain["load_file_seconds"], 3),
        "load_s_runs": [round(r["seconds"], 3) for r in runs["load_ours_cuda"]],
        "plain_load_s_runs": [round(r["seconds"], 3) for r in runs["load_plain_cuda"]],
        "load_peak_cuda_mb": round(ours["peak_cuda_mb"]), "plain_load_peak_cuda_mb": round(plain["peak_cuda_mb"]),
        "load_cuda_mem_ratio": round(ours["peak_cuda_mb"] / plain["peak_cuda_mb"], 3),
        "load_peak_rss_mb": round(ours["peak_rss_mb"]), "plain_load_peak_rss_mb": round(plain["peak_rss_mb"]),
    }
    if forward:
        f_ours = run_child("forward_ours", path, "cuda")
        f_diff = run_child("forward_diffusers", path, "cuda")
        log.info("U-Net forward 64x64 b2 fp16: ours %.2f ms (peak %.0f MiB) vs diffusers %.2f ms (peak %.0f MiB)",
                 1e3 * f_ours["seconds"], f_ours["peak_cuda_mb"], 1e3 * f_diff["seconds"], f_diff["peak_cuda_mb"])
        result.update({
            "forward_ms": round(1e3 * f_ours["seconds"], 2), "diffusers_forward_ms": round(1e3 * f_diff["seconds"], 2),
            "forward_ratio": round(f_ours["seconds"] / f_diff["seconds"], 3),
            "forward_peak_cuda_mb": round(f_ours["peak_cuda_mb"]),
            "diffusers_peak_cuda_mb": round(f_diff["peak_cuda_mb"]),
            "forward_cuda_mem_ratio": round(f_ours["peak_cuda_mb"] / f_diff["peak_cuda_mb"], 3),
        })
    return result


def main() -> None:
    import logging

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", help="directory for the checkpoint, kept between runs (default: a temp dir)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--rounds", type=int, default=None, help="alternating load rounds (default 5 CPU, 3 CUDA)")
    parser.add_argument("--skip-forward", action="store_true", help="measure loading only")
    parser.add_argument("--manifest", default=str(MANIFEST), help="sd15.json key manifest (tests/data/reference)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log = logging.getLogger("bench.models")
    rounds = args.rounds or (5 if args.device == "cpu" else 3)
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="latentflow_bench_"))
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "sd15_random_fp32.safetensors"
    try:
        if not path.exists():
            t = time.perf_counter()
            write_checkpoint(path, Path(args.manifest))
            log.info("wrote %s (%.1f GB) in %.0f s", path, path.stat().st_size / 1e9, time.perf_counter() - t)
        results = cuda_results if args.device == "cuda" else cpu_results
        print(json.dumps(results(path, rounds, not args.skip_forward, log)))
    finally:
        if not args.keep:
            path.unlink(missing_ok=True)
            tmp.rmdir()


if __name__ == "__main__":
    main()
