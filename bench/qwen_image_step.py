"""One Qwen-Image denoiser step at reduced depth on the CPU: ours vs diffusers' QwenImageTransformer2DModel.

Full width (24 heads x 128 = 3072, context 3584, rotary 16/56/56) with ``--layers`` blocks (default 2 of the
release's 60), seeded random weights filled once into our module and loaded into diffusers' from the same
tensors (the key layouts are one). Input: a 1024x1024 image's latent (16 x 128 x 128 -> 4096 tokens) and
``--tokens`` text tokens, batch 1, at float32 and bfloat16. Each side's call is what its sampler makes per step:
ours ``net(x, sigma, context)`` (patchify, rotary tables, blocks, unpatchify), diffusers' the pipeline's packed
call with ``img_shapes``. Best of ``--repeat`` alternating rounds after one warm-up each; the outputs are checked
against each other first. Ratios are ours / diffusers (lower is better). Last line: one JSON object.

Usage: BENCH_THREADS=2 .venv/bin/python bench/qwen_image_step.py [--layers 2] [--tokens 64] [--size 1024] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build(layers: int, dtype):
    import torch
    from diffusers import QwenImageTransformer2DModel

    from core.models.qwen_image import QwenImageConfig, QwenImageTransformer
    from core.models.tiny import fill_random

    config = QwenImageConfig(num_layers=layers)
    with torch.device("meta"):
        ours = QwenImageTransformer(config)
    ours = fill_random(ours, seed=0).to(dtype)
    ref = QwenImageTransformer2DModel(num_layers=layers).to(dtype)
    ref.load_state_dict(ours.state_dict(), strict=True)
    return ours, ref.eval().requires_grad_(False)


def calls(ours, ref, size: int, tokens: int, dtype):
    import torch

    h = w = size // 8
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 16, h, w, generator=g).to(dtype)
    ctx = torch.randn(1, tokens, 3584, generator=g).to(dtype)
    sigma = torch.tensor([0.7], dtype=dtype)

    def run_ours():
        return ours(x, sigma, ctx)

    def run_ref():
        packed = x.reshape(1, 16, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(1, (h // 2) * (w // 2), 64)
        out = ref(hidden_states=packed, encoder_hidden_states=ctx, timestep=sigma,
                  img_shapes=[[(1, h // 2, w // 2)]], return_dict=False)[0]
        return out.reshape(1, h // 2, w // 2, 16, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(1, 16, h, w)

    return run_ours, run_ref


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--size", type=int, default=1024, help="image side in pixels (latent = size / 8)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import torch

    if os.environ.get("BENCH_THREADS"):
        torch.set_num_threads(int(os.environ["BENCH_THREADS"]))
    result = {"layers": args.layers, "text_tokens": args.tokens, "image_tokens": (args.size // 16) ** 2,
              "threads": torch.get_num_threads(), "repeats": args.repeat}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        ours, ref = build(args.layers, dtype)
        run_ours, run_ref = calls(ours, ref, args.size, args.tokens, dtype)
        with torch.inference_mode():
            a, b = run_ours(), run_ref()  # warm-up, and the two must agree
            diff = float((a.float() - b.float()).abs().max())
            scale = float(b.float().abs().max())
            ours_s, ref_s = [], []
            for _ in range(args.repeat):
                ours_s.append(timed(run_ours))
                ref_s.append(timed(run_ref))
        best_ours, best_ref = min(ours_s), min(ref_s)
        print(f"{name}: ours {best_ours:.3f} s, diffusers {best_ref:.3f} s, max |diff| {diff:.3g} "
              f"(output max {scale:.3g})", flush=True)
        result.update({f"{name}_ours_s": round(best_ours, 4), f"{name}_diffusers_s": round(best_ref, 4),
                       f"{name}_max_abs_diff": diff, f"{name}_step_ratio": round(best_ours / best_ref, 3)})
        del ours, ref
    print(json.dumps(result))


if __name__ == "__main__":
    main()
