"""Checkpoint loading and U-Net speed/memory on a full-size SD1.5 with random weights, beside peers.

Writes a complete SD1.5 single-file checkpoint (every key of reference/checkpoints/sd15.json, fp32,
seeded random weights) to a temp dir, then measures, each in its own subprocess so peak RSS is
separate:
- load: our load_checkpoint (U-Net + VAE + CLIP) vs a plain safetensors.torch.load_file of the file;
  both may map the file lazily, so "load_touch" also reads every weight once after loading;
- forward: one U-Net forward, 64x64 latent, batch 2, fp32 CPU, vs diffusers' UNet2DConditionModel
  holding the same weights (diffusers' own LDM key converter); peak RSS of each process.
Targets: load <= 1.3x plain safetensors; forward <= 1.0x diffusers; peak RSS <= diffusers.
Last line: one JSON object; ratios are ours / peer.
Usage: python bench/models.py [--keep DIR]
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MANIFEST = ROOT / ".." / "shared" / "reference" / "checkpoints" / "sd15.json"


def write_checkpoint(path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    keys = json.loads(MANIFEST.read_text())["keys"]
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


# --- subprocess bodies: print one JSON line {seconds, peak_rss_mb} -------------------------------

def peak_rss_mb() -> float:
    """VmHWM of this process: unlike ru_maxrss it is not inherited from the parent across fork/exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_load_plain(path: str) -> dict:
    from safetensors.torch import load_file

    import torch

    t = time.perf_counter()
    sd = load_file(path)
    loaded = time.perf_counter() - t
    _touch(sd.values())
    return {"seconds": loaded, "touch_seconds": time.perf_counter() - t}


def _touch(tensors) -> None:
    """Read every weight once (one element per 4 KiB page), so lazily mapped files are really read."""
    import torch

    total = torch.zeros(())
    for p in tensors:
        if p.is_floating_point():
            total += p.detach().reshape(-1)[:: max(1, 4096 // p.element_size())].sum()


def child_load_ours(path: str) -> dict:
    import torch

    from core import devices
    import transformers.models.clip.modeling_clip  # noqa: F401  (transformers imports it lazily on first use;
    from core.models import text_encoder  # noqa: F401  a running server has paid that once, so not timed here)
    from core.models.checkpoint import load_checkpoint

    devices.configure({"cpu": True, "force_fp32": True})
    t = time.perf_counter()
    model, clip, vae = load_checkpoint(path)
    loaded = time.perf_counter() - t
    modules = [model.unet, vae.vae] + [m for m in getattr(clip, "modules", lambda: [])()]
    _touch([p for m in modules for p in m.parameters()])
    return {"seconds": loaded, "touch_seconds": time.perf_counter() - t}


def _inputs(batch: int, size: int):
    import torch

    gen = torch.Generator().manual_seed(3)
    return (torch.randn(batch, 4, size, size, generator=gen), torch.tensor([999.0, 500.0][:batch]),
            torch.randn(batch, 77, 768, generator=gen))


def _time_forward(fn) -> float:
    import torch

    with torch.inference_mode():
        fn(*_inputs(2, 8))  # warm-up at a small size (allocator, kernels)
        x, t, c = _inputs(2, 64)
        start = time.perf_counter()
        fn(x, t, c)
        return time.perf_counter() - start


def child_forward_ours(path: str) -> dict:
    from core import devices
    from core.models.checkpoint import load_checkpoint

    devices.configure({"cpu": True, "force_fp32": True})
    model, _, _ = load_checkpoint(path, output_clip=False, output_vae=False)
    return {"seconds": _time_forward(lambda x, t, c: model.unet(x, t, c))}


def child_forward_diffusers(path: str) -> dict:
    import torch
    from diffusers import UNet2DConditionModel
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint
    from safetensors import safe_open

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
    return {"seconds": _time_forward(lambda x, t, c: unet(x, t, encoder_hidden_states=c).sample)}


def run_child(name: str, path: Path) -> dict:
    code = (f"import sys, json; sys.path.insert(0, {str(ROOT)!r}); import bench.models as b; "
            f"r = b.child_{name}({str(path)!r}); r['peak_rss_mb'] = b.peak_rss_mb(); print(json.dumps(r))")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark step {name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log = logging.getLogger("bench.models")
    keep = sys.argv[sys.argv.index("--keep") + 1] if "--keep" in sys.argv else None
    tmp = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="latentflow_bench_"))
    path = tmp / "sd15_random_fp32.safetensors"
    try:
        if not path.exists():
            t = time.perf_counter()
            write_checkpoint(path)
            log.info("wrote %s (%.1f GB) in %.0f s", path, path.stat().st_size / 1e9, time.perf_counter() - t)
        run_child("load_plain", path)  # warm the page cache so both loads read from memory
        plain = run_child("load_plain", path)
        ours = run_child("load_ours", path)
        log.info("load: ours %.2f s (all weights read: %.2f s, peak %.0f MB) vs load_file %.2f s (read: %.2f s, peak %.0f MB)",
                 ours["seconds"], ours["touch_seconds"], ours["peak_rss_mb"], plain["seconds"], plain["touch_seconds"],
                 plain["peak_rss_mb"])
        f_ours = run_child("forward_ours", path)
        f_diff = run_child("forward_diffusers", path)
        log.info("U-Net forward 64x64 b2: ours %.2f s (peak %.0f MB) vs diffusers %.2f s (peak %.0f MB)",
                 f_ours["seconds"], f_ours["peak_rss_mb"], f_diff["seconds"], f_diff["peak_rss_mb"])
        result = {
            "load_s": round(ours["seconds"], 3), "load_touch_s": round(ours["touch_seconds"], 3),
            "plain_load_s": round(plain["seconds"], 3),
            "load_ratio": round(ours["seconds"] / plain["seconds"], 3),
            "plain_load_touch_s": round(plain["touch_seconds"], 3),
            "load_touch_ratio": round(ours["touch_seconds"] / plain["touch_seconds"], 3),
            "load_peak_rss_mb": round(ours["peak_rss_mb"]), "plain_load_peak_rss_mb": round(plain["peak_rss_mb"]),
            "load_rss_ratio": round(ours["peak_rss_mb"] / plain["peak_rss_mb"], 3),
            "forward_s": round(f_ours["seconds"], 3), "diffusers_forward_s": round(f_diff["seconds"], 3),
            "forward_ratio": round(f_ours["seconds"] / f_diff["seconds"], 3),
            "forward_peak_rss_mb": round(f_ours["peak_rss_mb"]), "diffusers_peak_rss_mb": round(f_diff["peak_rss_mb"]),
            "forward_rss_ratio": round(f_ours["peak_rss_mb"] / f_diff["peak_rss_mb"], 3),
        }
        print(json.dumps(result))
    finally:
        if not keep:
            path.unlink(missing_ok=True)
            tmp.rmdir()


if __name__ == "__main__":
    main()
