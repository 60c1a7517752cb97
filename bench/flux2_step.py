"""One FLUX.2 transformer step on the CPU, ours vs diffusers' Flux2Transformer2DModel holding the same weights.

FLUX.2 [klein] 4B widths (hidden 3072, 24 heads of 128, SwiGLU MLP 9216, text context 7680 = 3 x Qwen3-4B)
at reduced depth (default 1 double + 1 single block, the released model has 5 + 20), seeded random weights
built on meta and filled once; diffusers' module gets the same tensors (its own single-file converter, views,
no copy). One call = one denoising step at --size pixels (a 1/16 latent of 128 channels, one token per latent
pixel) with --text tokens of context. For fp32 and bf16: the outputs are compared, then --rounds rounds each
time one call of each side in alternating order after a warm-up; the median seconds are reported.
Target: ours <= 1.0x diffusers. Last line: one JSON object; *_ratio = ours / diffusers.
Usage: python bench/flux2_step.py [--size 256] [--text 64] [--double 1] [--single 1] [--rounds 5] [--threads N]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build(double: int, single: int):
    import torch
    from diffusers import Flux2Transformer2DModel
    from diffusers.loaders.single_file_utils import convert_flux2_transformer_checkpoint_to_diffusers

    from core.models.building import on_meta
    from core.models.flux2 import KLEIN_4B, Flux2
    from core.models.tiny import fill_random
    from dataclasses import replace

    config = replace(KLEIN_4B, depth=double, depth_single_blocks=single)
    ours = fill_random(on_meta(lambda: Flux2(config)), seed=0)
    with torch.device("meta"):
        ref = Flux2Transformer2DModel(num_layers=double, num_single_layers=single, num_attention_heads=24,
                                      joint_attention_dim=config.context_in_dim, guidance_embeds=False)
    sd = convert_flux2_transformer_checkpoint_to_diffusers(dict(ours.state_dict()))
    ref.load_state_dict(sd, strict=True, assign=True)
    return ours, ref.eval().requires_grad_(False), config


def inputs(config, size: int, text: int, dtype):
    import torch

    g = torch.Generator().manual_seed(1)
    h = w = size // 16
    x = torch.randn(1, config.in_channels, h, w, generator=g).to(dtype)
    context = torch.randn(1, text, config.context_in_dim, generator=g).to(dtype)
    return x, context, torch.tensor([0.7])  # float32 sigma, as the sampler passes it


def ours_call(model, x, context, t):
    return model(x, t, context)


def diffusers_call(ref, x, context, t):
    from diffusers.pipelines.flux2.pipeline_flux2 import Flux2Pipeline

    B, C, h, w = x.shape
    out = ref(hidden_states=Flux2Pipeline._pack_latents(x), encoder_hidden_states=context, timestep=t,
              img_ids=Flux2Pipeline._prepare_latent_ids(x), txt_ids=Flux2Pipeline._prepare_text_ids(context),
              guidance=None, return_dict=False)[0]
    return out.transpose(1, 2).reshape(B, C, h, w)


def timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def measure(ours, ref, config, dtype, args, exact=None) -> dict:
    """Median seconds of each side; ``exact``: the fp32 output, against which both sides' errors are given."""
    import torch

    ours.to(dtype)
    ref.to(dtype)
    x, context, t = inputs(config, args.size, args.text, dtype)
    with torch.inference_mode():
        a, b = ours_call(ours, x, context, t), diffusers_call(ref, x, context, t)  # also the warm-up
        diff = float((a.float() - b.float()).abs().max())
        scale = float(b.float().abs().max())
        errors = {}
        if exact is not None:  # how far each side's low-precision result is from the fp32 one
            errors = {"ours_err": float((a.float() - exact).abs().max()),
                      "diffusers_err": float((b.float() - exact).abs().max())}
        times = {"ours": [], "diffusers": []}
        for r in range(args.rounds):
            order = (("ours", ours_call, ours), ("diffusers", diffusers_call, ref))
            for name, fn, model in (order if r % 2 == 0 else order[::-1]):
                times[name].append(timed(fn, model, x, context, t))
    ours_s, ref_s = statistics.median(times["ours"]), statistics.median(times["diffusers"])
    return {"ours_s": ours_s, "diffusers_s": ref_s, "ratio": ours_s / ref_s, "max_abs_diff": diff,
            "out_absmax": scale, "output": a.float(), **errors}


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (latent side = size / 16)")
    parser.add_argument("--text", type=int, default=64, help="text tokens")
    parser.add_argument("--double", type=int, default=1)
    parser.add_argument("--single", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ours, ref, config = build(args.double, args.single)
    result = {"model": "flux2-klein-4b widths", "double_blocks": args.double, "single_blocks": args.single,
              "image_px": args.size, "image_tokens": (args.size // 16) ** 2, "text_tokens": args.text,
              "threads": torch.get_num_threads(), "rounds": args.rounds}
    exact = None
    for label, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        r = measure(ours, ref, config, dtype, args, exact)
        exact = r["output"] if exact is None else exact
        print(f"{label}: ours {r['ours_s'] * 1000:.1f} ms, diffusers {r['diffusers_s'] * 1000:.1f} ms, "
              f"ratio {r['ratio']:.3f}, max |diff| {r['max_abs_diff']:.2e} (output |max| {r['out_absmax']:.2f})")
        if "ours_err" in r:
            print(f"{label} vs fp32: ours max |err| {r['ours_err']:.3f}, diffusers {r['diffusers_err']:.3f}")
            result.update({f"{label}_ours_max_err_vs_fp32": round(r["ours_err"], 4),
                           f"{label}_diffusers_max_err_vs_fp32": round(r["diffusers_err"], 4)})
        result.update({f"{label}_ours_ms": round(r["ours_s"] * 1000, 2),
                       f"{label}_diffusers_ms": round(r["diffusers_s"] * 1000, 2),
                       f"{label}_step_ratio": round(r["ratio"], 4),
                       f"{label}_max_abs_diff": r["max_abs_diff"]})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
