"""Sampling speed on a full-size SD1.5 U-Net (random weights) beside diffusers' denoising loop.

256x256 (32x32 latent), 4 Euler steps, CFG 7 (cond + uncond batched), fp32 on the CPU. The same
weight tensors are shared by our U-Net and diffusers' UNet2DConditionModel (diffusers' own LDM key
converter, assign=True: one copy in memory), with the same text embeddings. Measured:
- s/step of our KSampler path (common_ksampler: noise, sigmas, guidance, sampler, scaling) and of a
  diffusers-pipeline-style loop (EulerDiscreteScheduler, scale_model_input, CFG, step); best of 2 runs;
- time outside U-Net forwards inside our sampler loop, as a fraction of a step (target < 2%);
- a bfloat16 run of our path: s/step and its latent / latent2rgb preview difference from fp32.
--device cuda: 512x512, 20 steps, fp16 on the GPU by default; both models on the GPU, each run ends with
the latent back on the host (synchronised); best of 5 runs after a warm-up run of each; it/s beside
diffusers' loop (the per-step split and the bf16 run are CPU-only).
Target: step_ratio (ours / diffusers) <= 1.0. Last line: one JSON object; ratios are named *_ratio.
Usage: python bench/sampling.py [--steps 4] [--size 256] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

log = logging.getLogger("bench.sampling")


def random_sd15_unet():
    """Built on meta, each tensor filled once (core.models.tiny.fill_random): no init pass, one copy."""
    import torch

    from core.models.tiny import fill_random
    from core.models.unet import UNetConfig, UNetModel

    cfg = UNetConfig()  # the defaults are SD1.5's
    with torch.device("meta"):
        unet = UNetModel(cfg)
    return fill_random(unet, seed=0), cfg


def diffusers_twin(unet, cfg):
    import torch
    from diffusers import UNet2DConditionModel
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    channels = [cfg.model_channels * m for m in cfg.channel_mult]
    down = ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"]
    config = dict(in_channels=4, out_channels=4, block_out_channels=channels, down_block_types=down,
                  up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3, layers_per_block=2,
                  cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32,
                  flip_sin_to_cos=True, freq_shift=0)
    converted = convert_ldm_unet_checkpoint(
        {"model.diffusion_model." + k: v for k, v in unet.state_dict().items()}, config)
    with torch.device("meta"):
        ref = UNet2DConditionModel(**config)
    ref.load_state_dict(converted, strict=True, assign=True)
    return ref.eval().requires_grad_(False)


class ForwardTimer:
    """Forward pre/post hooks summing the wall time spent inside the U-Net."""

    def __init__(self, module):
        self.total, self._t0 = 0.0, 0.0
        module.register_forward_pre_hook(self._pre)
        module.register_forward_hook(self._post)

    def _pre(self, *_):
        self._t0 = time.perf_counter()

    def _post(self, *_):
        self.total += time.perf_counter() - self._t0


def run_ours(model, pos, neg, steps, size, timer):
    import torch

    from core.sampling import samplers_basic
    from core.sampling.sample import ksampler_sigmas, prepare_noise, sample_custom
    from core.sampling.samplers import SamplerSpec

    loop = {}

    def timed_euler(*args, **kw):
        t0 = time.perf_counter()
        try:
            return samplers_basic.euler(*args, **kw)
        finally:
            loop["s"] = time.perf_counter() - t0

    latent = torch.zeros(1, 4, size // 8, size // 8)
    timer.total = 0.0
    t0 = time.perf_counter()
    noise = prepare_noise(latent, 42)
    sigmas = ksampler_sigmas(model, steps, "euler", "normal")
    out = sample_custom(model, noise, 7.0, SamplerSpec("euler", timed_euler), sigmas, pos, neg, latent, seed=42)
    total = time.perf_counter() - t0
    return out, {"total": total, "loop": loop["s"], "unet": timer.total}


def run_diffusers(ref, cond, uncond, steps, size, device="cpu"):
    import torch
    from diffusers import EulerDiscreteScheduler

    sched = EulerDiscreteScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                                   beta_schedule="scaled_linear")
    t0 = time.perf_counter()
    sched.set_timesteps(steps, device=device)
    gen = torch.Generator().manual_seed(42)
    latents = (torch.randn(1, 4, size // 8, size // 8, generator=gen) * sched.init_noise_sigma).to(device, ref.dtype)
    emb = torch.cat([uncond, cond])
    with torch.inference_mode():
        for t in sched.timesteps:
            inp = sched.scale_model_input(torch.cat([latents] * 2), t)
            eps_u, eps_c = ref(inp, t, encoder_hidden_states=emb).sample.chunk(2)
            latents = sched.step(eps_u + 7.0 * (eps_c - eps_u), t, latents).prev_sample
    latents = latents.float().cpu()  # as ours returns it: on the host, so GPU runs are synchronised
    return latents, time.perf_counter() - t0


def main_cuda(args):
    """Both U-Nets in fp16 on the GPU; our KSampler path vs diffusers' loop, it/s."""
    import torch

    from core import devices
    from core.models.detection import ModelConfig
    from core.models.handles import ModelHandle
    from core.models.latent_formats import SD15

    devices.configure({"gpu_only": True, "force_fp16": True})
    unet, cfg = random_sd15_unet()
    ref = diffusers_twin(unet, cfg)  # shares our tensors until each is moved
    ref.to("cuda", torch.float16)
    unet.to("cuda", torch.float16)
    model = ModelHandle(unet, ModelConfig(family="sd1", prediction="eps", unet=cfg), SD15, name="sd15-random")
    gen = torch.Generator().manual_seed(7)
    cond, uncond = torch.randn(1, 77, 768, generator=gen), torch.randn(1, 77, 768, generator=gen)
    pos, neg = [[cond, {}]], [[uncond, {}]]
    cond16, uncond16 = cond.to("cuda", torch.float16), uncond.to("cuda", torch.float16)
    timer = ForwardTimer(unet)

    log.info("warm-up")
    run_ours(model, pos, neg, 2, args.size, timer)
    run_diffusers(ref, cond16, uncond16, 2, args.size, "cuda")
    ours_runs, diff_runs = [], []
    for r in range(args.repeats):  # alternate so clocks and background work hit both alike
        _, m = run_ours(model, pos, neg, args.steps, args.size, timer)
        ours_runs.append(m["total"])
        _, d = run_diffusers(ref, cond16, uncond16, args.steps, args.size, "cuda")
        diff_runs.append(d)
        log.info("run %d: ours %.3f s, diffusers %.3f s", r, m["total"], d)
    ours_s, diff_s = min(ours_runs), min(diff_runs)
    result = {
        "bench": "sampling", "model": "sd15 random weights", "device": "cuda",
        "gpu": torch.cuda.get_device_name(0), "dtype": "float16", "size": args.size, "steps": args.steps,
        "sampler": "euler/normal", "cfg": 7.0, "repeats": args.repeats,
        "ours_it_s": round(args.steps / ours_s, 2), "diffusers_it_s": round(args.steps / diff_s, 2),
        "ours_s_per_step": round(ours_s / args.steps, 4), "diffusers_s_per_step": round(diff_s / args.steps, 4),
        "step_ratio": round(ours_s / diff_s, 3),
        "ours_runs_s": [round(t, 3) for t in ours_runs], "diffusers_runs_s": [round(t, 3) for t in diff_runs],
        "peak_cuda_mb_both_models": round(torch.cuda.max_memory_allocated() / 2**20),
    }
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--steps", type=int, default=None, help="default 4 (cpu), 20 (cuda)")
    parser.add_argument("--size", type=int, default=None, help="default 256 (cpu), 512 (cuda)")
    parser.add_argument("--repeats", type=int, default=None, help="default 2 (cpu), 5 (cuda)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    gpu = args.device == "cuda"
    args.steps = args.steps or (20 if gpu else 4)
    args.size = args.size or (512 if gpu else 256)
    args.repeats = args.repeats or (5 if gpu else 2)
    if gpu:
        return main_cuda(args)

    import numpy as np
    import torch

    from core import devices
    from core.sampling.preview import latent_to_image
    from core.models.detection import ModelConfig
    from core.models.handles import ModelHandle
    from core.models.latent_formats import SD15

    devices.configure({"cpu": True, "force_fp32": True})
    unet, cfg = random_sd15_unet()
    ref = diffusers_twin(unet, cfg)
    model = ModelHandle(unet, ModelConfig(family="sd1", prediction="eps", unet=cfg), SD15, name="sd15-random")
    gen = torch.Generator().manual_seed(7)
    cond, uncond = torch.randn(1, 77, 768, generator=gen), torch.randn(1, 77, 768, generator=gen)
    pos, neg = [[cond, {}]], [[uncond, {}]]
    timer = ForwardTimer(unet)

    log.info("warm-up")
    with torch.inference_mode():
        x = torch.randn(2, 4, args.size // 8, args.size // 8)
        unet(x, torch.tensor([999.0, 999.0]), torch.cat([cond, uncond]))
        ref(x, torch.tensor(999.0), encoder_hidden_states=torch.cat([cond, uncond]))

    ours_runs, diff_runs = [], []
    for r in range(args.repeats):  # alternate so background load hits both alike
        out32, m = run_ours(model, pos, neg, args.steps, args.size, timer)
        ours_runs.append(m)
        _, d = run_diffusers(ref, cond, uncond, args.steps, args.size)
        diff_runs.append(d)
        log.info("run %d: ours %.2f s (U-Net %.2f s, loop %.2f s), diffusers %.2f s", r, m["total"], m["unet"],
                 m["loop"], d)
    best = min(ours_runs, key=lambda m: m["total"])
    ours_step = best["total"] / args.steps
    diff_step = min(diff_runs) / args.steps
    outside_loop = (best["loop"] - best["unet"]) / args.steps
    setup = best["total"] - best["loop"]

    del ref
    unet.to(torch.bfloat16)
    out16, m16 = run_ours(model, pos, neg, args.steps, args.size, timer)
    log.info("bf16: %.2f s", m16["total"])
    rel = float((out16 - out32).abs().mean() / out32.std())
    img32 = torch.from_numpy(np.array(latent_to_image(SD15, out32 * SD15.scale_factor))).float()
    img16 = torch.from_numpy(np.array(latent_to_image(SD15, out16 * SD15.scale_factor))).float()

    result = {
        "bench": "sampling", "model": "sd15 random weights", "size": args.size, "steps": args.steps,
        "sampler": "euler/normal", "cfg": 7.0, "threads": torch.get_num_threads(),
        "ours_s_per_step": round(ours_step, 3), "diffusers_s_per_step": round(diff_step, 3),
        "step_ratio": round(ours_step / diff_step, 3),
        "outside_unet_s_per_step": round(outside_loop, 4),
        "outside_unet_ratio": round(outside_loop / ours_step, 4),
        "setup_s": round(setup, 3), "setup_per_step_ratio": round(setup / args.steps / ours_step, 4),
        "bf16_s_per_step": round(m16["total"] / args.steps, 3),
        "bf16_vs_fp32_ratio": round(m16["total"] / best["total"], 3),
        "bf16_latent_mean_abs_diff_over_std": round(rel, 4),
        "bf16_preview_mean_abs_diff_0_255": round(float((img16 - img32).abs().mean()), 3),
        "bf16_preview_max_abs_diff_0_255": round(float((img16 - img32).abs().max()), 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
