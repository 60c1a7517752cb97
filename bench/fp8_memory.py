"""fp8-stored vs bf16 FLUX-shaped transformer on the CPU: bytes of parameters, RSS, and step time.

A FLUX.1 transformer at full width (hidden 3072, 24 heads, MLP 4x, T5/CLIP input widths) and reduced depth
(--double / --single blocks; the release has 19 + 38) with seeded random weights is written once as a bf16
.safetensors (the released format) and loaded through the real loader (core.models.checkpoint.load_unet)
twice, alternating, best of --repeat:
- bf16: ``weight_dtype="default"`` in bfloat16 (the peer: weights are views of the memory-mapped file);
- fp8: ``weight_dtype="fp8_e4m3fn"``: Linear weights quantized to 1 byte on load, upcast to bf16 layer
  by layer in each forward (core/models/fp8.py, cast_layers.py).
Measured per variant: parameter bytes (exact), RSS growth after load + one forward (the file pages a bf16
model touches count: that is its real footprint), peak RSS growth over load + forward (VmHWM reset through
/proc/self/clear_refs), and the seconds of one denoiser step (a --size latent, 256 T5 tokens).
fp8 matmul (``fp8_e4m3fn_fast``) needs a CUDA GPU and is not measured here.
Last line: one JSON object; ratios are named *_ratio.
Usage: BENCH_THREADS=2 .venv/bin/python bench/fp8_memory.py [--double 1] [--single 2] [--repeat 2]  (~3 GB RAM)
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

log = logging.getLogger("bench.fp8_memory")


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def trim() -> None:
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def write_model(path: Path, double: int, single: int) -> int:
    """A seeded bf16 FLUX-shaped file; returns its parameter count."""
    import torch

    from core.models.building import on_meta
    from core.models.flux import Flux, FluxConfig
    from core.models.weights import save_safetensors

    net = on_meta(lambda: Flux(FluxConfig(depth=double, depth_single_blocks=single)))
    gen = torch.Generator().manual_seed(0)
    sd = {}
    for key, t in net.state_dict().items():
        fan_in = t[0].numel() if t.ndim > 1 else 50
        bound = (3.0 / fan_in) ** 0.5
        sd[key] = torch.empty(t.shape).uniform_(-bound, bound, generator=gen).to(torch.bfloat16)
    save_safetensors(sd, path)
    return sum(t.numel() for t in sd.values())


def step_inputs(size: int):
    import torch

    g = torch.Generator().manual_seed(1)
    return (torch.randn(1, 16, size, size, generator=g, dtype=torch.float32).to(torch.bfloat16),
            torch.tensor([0.7], dtype=torch.bfloat16),
            torch.randn(1, 256, 4096, generator=g).to(torch.bfloat16),
            torch.randn(1, 769, generator=g).to(torch.bfloat16))


def measure(path: Path, weight_dtype: str, size: int) -> dict:
    import torch

    from core.models.checkpoint import load_unet

    trim()
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    base = _status("VmRSS")
    t = time.perf_counter()
    model = load_unet(path, dtype=torch.bfloat16, weight_dtype=weight_dtype)
    load_s = time.perf_counter() - t
    x = step_inputs(size)
    with torch.inference_mode():
        model.unet(*x)  # touches every weight once
        trim()
        rss = _status("VmRSS") - base
        t = time.perf_counter()
        out = model.unet(*x)
        step_s = time.perf_counter() - t
    result = {"load_s": load_s, "step_s": step_s, "rss": rss, "peak": _status("VmHWM") - base,
              "param_bytes": sum(p.numel() * p.element_size() for p in model.unet.parameters()),
              "out": out.float()}
    del model
    trim()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--double", type=int, default=1)
    parser.add_argument("--single", type=int, default=2)
    parser.add_argument("--size", type=int, default=32, help="latent side (32 = a 256 px image, 256 image tokens)")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", torch.get_num_threads())))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "flux-shaped-bf16.safetensors"
        params = write_model(path, args.double, args.single)
        runs = {"bf16": [], "fp8": []}
        for _ in range(args.repeat):
            for name, weight_dtype in (("bf16", "default"), ("fp8", "fp8_e4m3fn")):
                runs[name].append(measure(path, weight_dtype, args.size))
                log.warning("%s: %s", name, {k: v for k, v in runs[name][-1].items() if k != "out"})
    best = {name: {k: min(r[k] for r in rs) for k in ("load_s", "step_s", "rss", "peak", "param_bytes")}
            for name, rs in runs.items()}
    a, b = runs["fp8"][0]["out"], runs["bf16"][0]["out"]
    mb = 2**20
    result = {
        "bench": "fp8_memory", "device": "cpu", "threads": torch.get_num_threads(), "repeats": args.repeat,
        "double_blocks": args.double, "single_blocks": args.single, "hidden": 3072, "params": params,
        "latent": args.size,
        "bf16_param_mb": round(best["bf16"]["param_bytes"] / mb, 1),
        "fp8_param_mb": round(best["fp8"]["param_bytes"] / mb, 1),
        "bf16_rss_after_step_mb": round(best["bf16"]["rss"] / mb, 1),
        "fp8_rss_after_step_mb": round(best["fp8"]["rss"] / mb, 1),
        "bf16_peak_rss_mb": round(best["bf16"]["peak"] / mb, 1),
        "fp8_peak_rss_mb": round(best["fp8"]["peak"] / mb, 1),
        "bf16_step_s": round(best["bf16"]["step_s"], 3), "fp8_step_s": round(best["fp8"]["step_s"], 3),
        "bf16_load_s": round(best["bf16"]["load_s"], 3), "fp8_load_s": round(best["fp8"]["load_s"], 3),
        "fp8_vs_bf16_output_rel_err": round(float((a - b).abs().mean() / b.abs().mean()), 4),
        "param_bytes_fp8_to_bf16_ratio": round(best["fp8"]["param_bytes"] / best["bf16"]["param_bytes"], 4),
        "rss_after_step_fp8_to_bf16_ratio": round(best["fp8"]["rss"] / best["bf16"]["rss"], 3),
        "peak_rss_fp8_to_bf16_ratio": round(best["fp8"]["peak"] / best["bf16"]["peak"], 3),
        "step_time_fp8_to_bf16_ratio": round(best["fp8"]["step_s"] / best["bf16"]["step_s"], 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
