"""ControlNet overhead per sampling step on a full-size SD1.5 U-Net + ControlNet v1.1, beside diffusers.

256x256 (32x32 latent), 4 Euler steps, CFG 7 (cond + uncond batched), fp32 on the CPU, random seeded
weights built on meta and filled once (bench/sampling.py's U-Net; a ControlNet in the v1.1 layout,
reference/checkpoints/controlnet_v11_sd15.json). Our path is the real one: ControlNetApplyAdvanced
(positive and negative share one control) -> KSampler's sample_custom -> guidance -> get_control ->
U-Net ``control=``. Measured, alternating, best of --repeats:
- s/step of our sampler without and with the ControlNet; overhead = with / without (target < 1.4);
- the same for a diffusers loop (UNet2DConditionModel + ControlNetModel holding the same tensors,
  converted by diffusers' own LDM converters; controlnet(...) then unet(..., *_additional_residual(s))),
  its overhead ratio, and ours / diffusers per step with the ControlNet;
- time inside the ControlNet forward per step (ours), and one step's output difference from diffusers.
Last line: one JSON object; ratios are named *_ratio (best run over best run; the pairwise spread
shows how much background load moved them).
Usage: BENCH_THREADS=2 .venv/bin/python bench/controlnet.py [--steps 4] [--size 256] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

log = logging.getLogger("bench.controlnet")


def random_controlnet(cfg):
    """An SD1.5 ControlNet (v1.1 layout, RGB hint) on meta, each tensor filled once (fill_random, seed 1)."""
    import torch

    from core.models.controlnet import ControlNet
    from core.models.tiny import fill_random

    with torch.device("meta"):
        net = ControlNet(cfg, hint_channels=3)
    return fill_random(net, seed=1)


def diffusers_controlnet(net, cfg):
    import torch
    from diffusers import ControlNetModel
    from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint

    channels = [cfg.model_channels * m for m in cfg.channel_mult]
    config = dict(in_channels=4, block_out_channels=channels, layers_per_block=2, cross_attention_dim=768,
                  attention_head_dim=8, norm_num_groups=32, flip_sin_to_cos=True, freq_shift=0,
                  down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
                  conditioning_embedding_out_channels=(16, 32, 96, 256))
    converted = convert_controlnet_checkpoint(net.state_dict(), config)
    with torch.device("meta"):
        ref = ControlNetModel(**config)
    ref.load_state_dict(converted, strict=True, assign=True)
    return ref.eval().requires_grad_(False)


def run_diffusers(unet, controlnet, cond, uncond, hint, steps, size):
    """diffusers' StableDiffusionControlNetPipeline denoising loop, without the pipeline object."""
    import torch
    from diffusers import EulerDiscreteScheduler

    sched = EulerDiscreteScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                                   beta_schedule="scaled_linear")
    t0 = time.perf_counter()
    sched.set_timesteps(steps)
    gen = torch.Generator().manual_seed(42)
    latents = torch.randn(1, 4, size // 8, size // 8, generator=gen) * sched.init_noise_sigma
    emb = torch.cat([uncond, cond])
    image = torch.cat([hint] * 2) if controlnet is not None else None  # the pipeline's do_classifier_free_guidance
    with torch.inference_mode():
        for t in sched.timesteps:
            inp = sched.scale_model_input(torch.cat([latents] * 2), t)
            extra = {}
            if controlnet is not None:
                down, mid = controlnet(inp, t, encoder_hidden_states=emb, controlnet_cond=image,
                                       conditioning_scale=1.0, return_dict=False)
                extra = {"down_block_additional_residuals": down, "mid_block_additional_residual": mid}
            eps_u, eps_c = unet(inp, t, encoder_hidden_states=emb, **extra).sample.chunk(2)
            latents = sched.step(eps_u + 7.0 * (eps_c - eps_u), t, latents).prev_sample
    return time.perf_counter() - t0


def one_step_difference(unet, net, ref_unet, ref_cn, cond, uncond, hint_image, size) -> float:
    """Max |eps ours − eps diffusers| / std for one cond+uncond forward with the ControlNet (same weights)."""
    import torch

    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 4, size // 8, size // 8, generator=gen)
    t = torch.tensor([500.0, 500.0])
    ctx = torch.cat([cond, uncond])
    hint = hint_image.movedim(-1, 1).repeat(2, 1, 1, 1)
    with torch.inference_mode():
        outs = net(x, hint, t, ctx)
        ours = unet(x, t, ctx, control={"input": outs[:-1], "middle": [outs[-1]]})
        down, mid = ref_cn(x, t, encoder_hidden_states=ctx, controlnet_cond=hint, return_dict=False)
        theirs = ref_unet(x, t, encoder_hidden_states=ctx, down_block_additional_residuals=down,
                          mid_block_additional_residual=mid).sample
    return float((ours - theirs).abs().max() / theirs.std())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-diffusers", action="store_true", help="skip the diffusers peer")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import torch

    from bench.sampling import ForwardTimer, diffusers_twin, random_sd15_unet
    from bench.sampling import run_diffusers as run_diffusers_plain
    from bench.sampling import run_ours
    from core import devices
    from core.models.controlnet import ControlNetHandle
    from core.models.detection import ModelConfig
    from core.models.handles import ModelHandle
    from core.models.latent_formats import SD15
    from nodes.controlnet import ControlNetApplyAdvanced

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", torch.get_num_threads())))
    devices.configure({"cpu": True, "force_fp32": True})
    t = time.perf_counter()
    unet, cfg = random_sd15_unet()
    net = random_controlnet(cfg)
    log.info("built U-Net + ControlNet in %.1f s", time.perf_counter() - t)
    model = ModelHandle(unet, ModelConfig(family="sd1", prediction="eps", unet=cfg), SD15, name="sd15-random")
    gen = torch.Generator().manual_seed(7)
    cond, uncond = torch.randn(1, 77, 768, generator=gen), torch.randn(1, 77, 768, generator=gen)
    hint_image = (torch.rand(1, args.size // 16, args.size // 16, 3, generator=gen) > 0.8).float()
    hint_image = torch.nn.functional.interpolate(hint_image.movedim(-1, 1), size=(args.size, args.size)).movedim(1, -1)
    pos, neg = [[cond, {}]], [[uncond, {}]]
    handle = ControlNetHandle(net, name="controlnet-random")
    pos_cn, neg_cn = ControlNetApplyAdvanced().execute(pos, neg, handle, hint_image, 1.0, 0.0, 1.0)
    unet_timer, cn_timer = ForwardTimer(unet), ForwardTimer(net)

    ref_unet = ref_cn = None
    if not args.no_diffusers:
        ref_unet, ref_cn = diffusers_twin(unet, cfg), diffusers_controlnet(net, cfg)

    log.info("warm-up")
    with torch.inference_mode():
        x = torch.randn(2, 4, args.size // 8, args.size // 8)
        ctx = torch.cat([cond, uncond])
        unet(x, torch.tensor([999.0, 999.0]), ctx)
        net(x, hint_image.movedim(-1, 1).repeat(2, 1, 1, 1), torch.tensor([999.0, 999.0]), ctx)
        if ref_unet is not None:
            ref_unet(x, torch.tensor(999.0), encoder_hidden_states=ctx)

    runs = {"plain": [], "cn": [], "diff_plain": [], "diff_cn": []}
    for r in range(args.repeats):  # alternate so background load hits every variant alike
        _, m = run_ours(model, pos, neg, args.steps, args.size, unet_timer)
        runs["plain"].append(m["total"])
        cn_timer.total = 0.0
        out, m = run_ours(model, pos_cn, neg_cn, args.steps, args.size, unet_timer)
        m["controlnet"] = cn_timer.total
        runs["cn"].append(m)
        assert torch.isfinite(out).all(), "the ControlNet run gave non-finite latents"
        line = f"run {r}: ours {runs['plain'][-1]:.2f} s, with ControlNet {m['total']:.2f} s " \
               f"(U-Net {m['unet']:.2f}, ControlNet {m['controlnet']:.2f})"
        if ref_unet is not None:
            _, d = run_diffusers_plain(ref_unet, cond, uncond, args.steps, args.size)
            runs["diff_plain"].append(d)
            runs["diff_cn"].append(run_diffusers(ref_unet, ref_cn, cond, uncond, hint_image.movedim(-1, 1),
                                                 args.steps, args.size))
            line += f"; diffusers {runs['diff_plain'][-1]:.2f} s, with ControlNet {runs['diff_cn'][-1]:.2f} s"
        log.info(line)

    steps = args.steps
    pairs = [m["total"] / p for m, p in zip(runs["cn"], runs["plain"])]  # the runs next to each other
    plain = min(runs["plain"]) / steps
    best_cn = min(runs["cn"], key=lambda m: m["total"])
    with_cn = best_cn["total"] / steps
    result = {
        "bench": "controlnet", "model": "sd15 + controlnet v1.1 random weights", "size": args.size,
        "steps": steps, "sampler": "euler/normal", "cfg": 7.0, "threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "ours_s_per_step": round(plain, 3), "ours_controlnet_s_per_step": round(with_cn, 3),
        "controlnet_overhead_ratio": round(with_cn / plain, 3),
        "controlnet_forward_s_per_step": round(best_cn["controlnet"] / steps, 3),
        "controlnet_forward_to_unet_ratio": round(best_cn["controlnet"] / best_cn["unet"], 3),
        "overhead_pairwise_spread": {k: round(f(pairs), 3) for k, f in
                                     (("min", min), ("median", statistics.median), ("max", max))},
    }
    if ref_unet is not None:
        d_plain, d_cn = min(runs["diff_plain"]) / steps, min(runs["diff_cn"]) / steps
        result.update({
            "diffusers_s_per_step": round(d_plain, 3), "diffusers_controlnet_s_per_step": round(d_cn, 3),
            "diffusers_controlnet_overhead_ratio": round(d_cn / d_plain, 3),
            "controlnet_step_ours_to_diffusers_ratio": round(with_cn / d_cn, 3),
            "one_step_max_abs_diff_over_std": round(one_step_difference(
                unet, net, ref_unet, ref_cn, cond, uncond, hint_image, args.size), 6),
        })
    print(json.dumps(result))


if __name__ == "__main__":
    main()
