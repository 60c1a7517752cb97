"""One FLUX.1 transformer step at reduced depth on the CPU: ours (core/models/flux.py) vs diffusers'
FluxTransformer2DModel holding the same weights, in float32 and bfloat16.

The blocks are full FLUX.1 width (hidden 3072, 24 heads of 128, rotary axes 16/56/56, T5 width 4096) unless
--hidden says otherwise; only the depth (--double, --single) and the token count (--size latent pixels
square, --tokens text tokens) are cut so one step fits a shared CPU. Both sides get the same packed tokens,
ids, timestep and guidance; timings are the best of --rounds, alternating ours and diffusers within each
round so load from other processes hits both alike. Before timing, fp32 outputs must agree (1e-4 of the
largest value) and each bf16 output's deviation from our fp32 output is reported.
Target: ours <= 1.15x diffusers (ratio = ours / diffusers, lower is better).
Last line: one JSON object.
Usage: python bench/flux_step.py [--hidden 3072] [--double 1] [--single 1] [--size 32] [--tokens 128]
       [--rounds 3] [--threads N]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "dit"))


def build(hidden: int, double: int, single: int):
    from diffusers import FluxTransformer2DModel

    from core.models.flux import Flux, FluxConfig
    from flux_diffusers_keys import bfl_to_diffusers  # tests/dit: the BFL -> diffusers key map

    head = 128
    config = FluxConfig(hidden_size=hidden, num_heads=hidden // head, depth=double, depth_single_blocks=single)
    torch.manual_seed(0)
    ours = Flux(config).eval()
    with torch.no_grad():
        for p in ours.parameters():
            p.normal_(0.0, 0.02)
    ref = FluxTransformer2DModel(patch_size=1, in_channels=64, out_channels=64, num_layers=double,
                                 num_single_layers=single, attention_head_dim=head, num_attention_heads=hidden // head,
                                 joint_attention_dim=4096, pooled_projection_dim=768, guidance_embeds=True,
                                 axes_dims_rope=(16, 56, 56)).eval()
    ref.load_state_dict(bfl_to_diffusers(dict(ours.state_dict()), double, single, hidden), strict=True)
    return ours, ref


def inputs(size: int, tokens: int, dtype):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 16, size, size, generator=g)
    ctx = torch.randn(1, tokens, 4096, generator=g)
    pooled = torch.randn(1, 768, generator=g)
    H = W = size // 2
    packed = x.reshape(1, 16, H, 2, W, 2).permute(0, 2, 4, 1, 3, 5).reshape(1, H * W, 64)
    ids = torch.zeros(H, W, 3)
    ids[..., 1] = torch.arange(H)[:, None]
    ids[..., 2] = torch.arange(W)[None, :]
    t, guidance = torch.tensor([0.6]), torch.tensor([3.5])
    ours_call = dict(x=x.to(dtype), timesteps=t, context=ctx.to(dtype), y=torch.cat([pooled, guidance[:, None]], 1).to(dtype))
    ref_call = dict(hidden_states=packed.to(dtype), encoder_hidden_states=ctx.to(dtype), pooled_projections=pooled.to(dtype),
                    timestep=t.to(dtype), img_ids=ids.reshape(-1, 3), txt_ids=torch.zeros(tokens, 3),
                    guidance=guidance.to(dtype))
    return ours_call, ref_call, (H, W)


def unpack(out, H, W):
    return out.reshape(1, H, W, 16, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(1, 16, 2 * H, 2 * W)


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=3072)
    ap.add_argument("--double", type=int, default=1)
    ap.add_argument("--single", type=int, default=1)
    ap.add_argument("--size", type=int, default=32, help="latent side in pixels (32 = a 256x256 image)")
    ap.add_argument("--tokens", type=int, default=128, help="T5 tokens")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ours, ref = build(args.hidden, args.double, args.single)
    result = {"hidden": args.hidden, "double_blocks": args.double, "single_blocks": args.single,
              "image_tokens": (args.size // 2) ** 2, "text_tokens": args.tokens, "threads": torch.get_num_threads()}
    # accuracy: each side's largest deviation from our fp32 output, relative to its largest value (bf16
    # keeps 8 mantissa bits through every block); fp32 must agree with diffusers' fp32 to 1e-4 of it
    want = None
    for name, dtype, tol in (("fp32", torch.float32, 1e-4), ("bf16", torch.bfloat16, 0.2)):
        ours.to(dtype)
        ref.to(dtype)
        ours_call, ref_call, (H, W) = inputs(args.size, args.tokens, dtype)
        with torch.inference_mode():
            a = ours(**ours_call).float()
            b = unpack(ref(**ref_call).sample.float(), H, W)
            want = a if want is None else want
            scale = float(want.abs().max())
            err, ref_err = float((a - want).abs().max()) / scale, float((b - want).abs().max()) / scale
            if dtype == torch.float32:
                err = ref_err
            if not err <= tol:
                raise SystemExit(f"{name}: ours deviates by {err:.3g} of the output's largest value (limit {tol})")
            best_ours = best_ref = float("inf")
            for _ in range(args.rounds):
                best_ours = min(best_ours, timed(lambda: ours(**ours_call)))
                best_ref = min(best_ref, timed(lambda: ref(**ref_call)))
        print(f"{name}: ours {best_ours * 1000:.0f} ms, diffusers {best_ref * 1000:.0f} ms; deviation from fp32 "
              f"ours {err:.2e}, diffusers {ref_err:.2e}", flush=True)
        result[f"{name}_ours_ms"] = round(best_ours * 1000, 1)
        result[f"{name}_diffusers_ms"] = round(best_ref * 1000, 1)
        if dtype != torch.float32:
            result[f"{name}_ours_rel_error"] = round(err, 5)
            result[f"{name}_diffusers_rel_error"] = round(ref_err, 5)
        else:
            result["fp32_rel_diff"] = ref_err
        result[f"{name}_ratio"] = round(best_ours / best_ref, 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
