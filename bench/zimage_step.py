"""One Z-Image denoiser step on the CPU: our transformer vs diffusers' ZImageTransformer2DModel, same weights.

Full width (dim 3840, 30 heads, Qwen3-4B caption width 2560) at reduced depth (default: 1 main layer and
1 refiner layer of each kind instead of 30 + 2), seeded random weights; diffusers' model holds the same
tensors through its own single-file converter. One step = one network call on a latent of --latent x
--latent (default 32: a 256 px image) with a caption of --tokens tokens, batch 1, as the sampler calls it
(ours: core/models/zimage.py ``forward``; diffusers: the call ZImagePipeline makes). Both in fp32, then
both in bf16; best of --rounds alternating rounds after a warm-up. The outputs are compared too (max
abs difference; ours is not allowed to be fast by being wrong).
Last line: one JSON object; *_ratio = ours / diffusers time (lower is better; target <= 1.0).
Usage: python bench/zimage_step.py [--layers N] [--refiner N] [--latent N] [--tokens N] [--rounds N] [--threads N]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build(layers: int, refiner: int):
    import torch
    from diffusers import ZImageTransformer2DModel
    from diffusers.loaders.single_file_utils import convert_z_image_transformer_checkpoint_to_diffusers

    from core.models.building import on_meta
    from core.models.tiny import fill_random
    from core.models.zimage import ZImage, ZImageConfig

    config = ZImageConfig(n_layers=layers, n_refiner_layers=refiner)
    ours = fill_random(on_meta(lambda: ZImage(config)), seed=0)
    with torch.device("meta"):
        ref = ZImageTransformer2DModel(n_layers=layers, n_refiner_layers=refiner)
    sd = convert_z_image_transformer_checkpoint_to_diffusers(dict(ours.state_dict()))
    ref.load_state_dict({k: v.clone() for k, v in sd.items()}, strict=True, assign=True)
    return ours, ref.eval().requires_grad_(False), config


def timed(fn, rounds: int) -> tuple[float, object]:
    out = fn()  # warm-up
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000, out


def measure(ours, ref, x, sigma, cap, rounds: int) -> dict:
    import torch

    def run_ours():
        return ours(x, sigma, cap)

    def run_ref():
        out = ref(list(x.unsqueeze(2).unbind(0)), 1.0 - sigma, list(cap.unbind(0)), return_dict=False)[0]
        return -torch.stack(out).squeeze(2)

    ours_ms, ref_ms = float("inf"), float("inf")
    with torch.inference_mode():
        for _ in range(rounds):  # alternate, so a noisy neighbour hurts both alike
            t, a = timed(run_ours, 1)
            ours_ms = min(ours_ms, t)
            t, b = timed(run_ref, 1)
            ref_ms = min(ref_ms, t)
    return {"ours_ms": round(ours_ms, 1), "diffusers_ms": round(ref_ms, 1),
            "max_abs_diff": float((a.float() - b.float()).abs().max()), "ratio": round(ours_ms / ref_ms, 3)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--refiner", type=int, default=1)
    parser.add_argument("--latent", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    ours, ref, config = build(args.layers, args.refiner)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 16, args.latent, args.latent, generator=g)
    cap = torch.randn(1, args.tokens, config.cap_feat_dim, generator=g)
    sigma = torch.tensor([0.7])
    result = {"layers": args.layers, "refiner_layers": args.refiner, "latent": args.latent, "tokens": args.tokens,
              "threads": torch.get_num_threads()}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        ours.to(dtype)
        ref.to(dtype)
        m = measure(ours, ref, x.to(dtype), sigma, cap.to(dtype), args.rounds)
        print(f"{name}: ours {m['ours_ms']:.1f} ms, diffusers {m['diffusers_ms']:.1f} ms, ratio {m['ratio']}, "
              f"max |diff| {m['max_abs_diff']:.2e}")
        result.update({f"{name}_ours_ms": m["ours_ms"], f"{name}_diffusers_ms": m["diffusers_ms"],
                       f"{name}_max_abs_diff": m["max_abs_diff"], f"{name}_ratio": m["ratio"]})
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
