"""One SD3.5 MM-DiT forward (one sampler step's network call) on the CPU, ours vs diffusers'
SD3Transformer2DModel holding the same weights (converted by diffusers' own single-file converter).

The network is SD3.5 Medium's width (1536, 24 heads of 64, q/k RMSNorm, MMDiT-X self-attention in the first
blocks, context 4096, pooled 2048, position table 384) at reduced depth (--depth, default 2), a 256x256 image
(--latent 32: 256 patch tokens), batch 2 (cond + uncond) and 154 text tokens (77 CLIP + 77 T5), in float32
and bfloat16: one forward is ~330 GFLOP, seconds on a small shared CPU. Timing: median of --rounds timed forwards per side after one warm-up, the two sides alternating
so background load hits both alike. Target: ours <= 1.0x diffusers in each dtype.
Last line: one JSON object; ratios are ours / diffusers.
Usage: python bench/sd3_step.py [--depth N] [--rounds N] [--latent N] [--threads N]
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


def build(depth: int, dtype):
    import torch

    from core.models.building import fill_module, on_meta
    from core.models.mmdit import MMDiT, MMDiTConfig
    from core.models.tiny import tiny_mmdit_state_dict

    cfg = MMDiTConfig(hidden_size=1536, depth=depth, num_heads=24, pos_embed_max_size=384, qk_norm=True,
                      x_block_self_attn_layers=tuple(range(min(2, depth))))
    sd = tiny_mmdit_state_dict(cfg, seed=0)
    ours = fill_module(on_meta(lambda: MMDiT(cfg)), sd, "", dtype, "cpu", "bench MMDiT")
    from diffusers import SD3Transformer2DModel
    from diffusers.utils import logging as diffusers_logging
    from diffusers.loaders.single_file_utils import convert_sd3_transformer_checkpoint_to_diffusers

    diffusers_logging.set_verbosity_error()  # its note on casting with .to(): every weight is meant to be cast here
    ref = SD3Transformer2DModel(sample_size=128, patch_size=2, in_channels=16, num_layers=depth, attention_head_dim=64,
                                num_attention_heads=24, joint_attention_dim=4096, caption_projection_dim=1536,
                                pooled_projection_dim=2048, out_channels=16, pos_embed_max_size=384,
                                dual_attention_layers=cfg.x_block_self_attn_layers, qk_norm="rms_norm")
    ref.load_state_dict(convert_sd3_transformer_checkpoint_to_diffusers(dict(sd)), strict=True)
    return ours.eval(), ref.to(dtype).eval().requires_grad_(False), cfg


def measure(depth: int, rounds: int, latent: int, dtype_name: str) -> dict:
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    ours, ref, cfg = build(depth, dtype)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 16, latent, latent, generator=g).to(dtype)
    ctx = torch.randn(2, 154, 4096, generator=g).to(dtype)
    y = torch.randn(2, 2048, generator=g).to(dtype)
    t = torch.tensor([800.0, 800.0])

    def run_ours():
        return ours(x, t, ctx, y)

    def run_ref():
        return ref(hidden_states=x, encoder_hidden_states=ctx, pooled_projections=y, timestep=t).sample

    times = {"ours": [], "diffusers": []}
    with torch.inference_mode():
        a, b = run_ours(), run_ref()  # warm-up, and a check that both compute the same thing
        err = float((a.float() - b.float()).abs().max())
        for _ in range(rounds):
            for name, fn in (("ours", run_ours), ("diffusers", run_ref)):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    o, d = statistics.median(times["ours"]) * 1e3, statistics.median(times["diffusers"]) * 1e3
    return {f"{dtype_name}_ours_ms": round(o, 1), f"{dtype_name}_diffusers_ms": round(d, 1),
            f"{dtype_name}_step_ratio": round(o / d, 3), f"{dtype_name}_max_abs_diff": err}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latent", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    result = {"device": "cpu", "threads": torch.get_num_threads(), "depth": args.depth, "latent": args.latent,
              "tokens_image": (args.latent // 2) ** 2, "tokens_text": 154}
    for dtype_name in ("fp32", "bf16"):
        result.update(measure(args.depth, args.rounds, args.latent, dtype_name))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
