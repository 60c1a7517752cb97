"""comfy.samplers / comfy.k_diffusion from a pack: KSAMPLER around a plugin sampler, CFGGuider, sigmas."""
from __future__ import annotations

from comfypacks import probe, run, txt2img_nodes


def _custom(registry, sampler_node: dict, sigmas_node: dict, seed: int = 3):
    prompt = txt2img_nodes()
    del prompt["5"]
    prompt.update({
        "20": sampler_node, "21": sigmas_node,
        "22": {"class_type": "SamplerCustom", "inputs": {
            "model": ["1", 0], "add_noise": True, "noise_seed": seed, "cfg": 4.0, "positive": ["2", 0],
            "negative": ["3", 0], "sampler": ["20", 0], "sigmas": ["21", 0], "latent_image": ["4", 0]}},
        "23": probe("22", 0, "latent")})
    result, seen = run(registry, prompt)
    assert result.success, result.error
    return seen["latent"]["samples"]


def test_plugin_k_diffusion_sampler_matches_our_euler(comfy_registry):
    import torch

    sigmas = {"class_type": "BasicScheduler", "inputs": {"model": ["1", 0], "scheduler": "karras", "steps": 4,
                                                         "denoise": 1.0}}
    plugin = _custom(comfy_registry, {"class_type": "MyEulerSampler", "inputs": {}}, sigmas)
    ours = _custom(comfy_registry, {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}}, sigmas)
    assert torch.allclose(plugin, ours, atol=1e-5)


def test_calculate_sigmas_equals_the_builtin_scheduler(comfy_registry):
    import torch

    prompt = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny_sd15.safetensors"}},
              "2": {"class_type": "ComfySigmas", "inputs": {"model": ["1", 0], "scheduler": "exponential", "steps": 5}},
              "3": {"class_type": "BasicScheduler", "inputs": {"model": ["1", 0], "scheduler": "exponential",
                                                               "steps": 5, "denoise": 1.0}},
              "4": probe("2", 0, "plugin"), "5": probe("3", 0, "builtin")}
    result, seen = run(comfy_registry, prompt)
    assert result.success, result.error
    assert len(seen["plugin"]) == 6 and torch.allclose(seen["plugin"], seen["builtin"])


def test_cfg_guider_sampling_equals_samplercustom(comfy_registry):
    import torch

    prompt = txt2img_nodes()
    del prompt["5"]
    prompt.update({
        "21": {"class_type": "BasicScheduler", "inputs": {"model": ["1", 0], "scheduler": "normal", "steps": 3,
                                                          "denoise": 1.0}},
        "30": {"class_type": "GuidedSample", "inputs": {
            "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "latent": ["4", 0], "sigmas": ["21", 0],
            "seed": 11, "cfg": 6.0, "sampler_name": "dpmpp_2m"}},
        "31": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "dpmpp_2m"}},
        "32": {"class_type": "SamplerCustom", "inputs": {
            "model": ["1", 0], "add_noise": True, "noise_seed": 11, "cfg": 6.0, "positive": ["2", 0],
            "negative": ["3", 0], "sampler": ["31", 0], "sigmas": ["21", 0], "latent_image": ["4", 0]}},
        "33": probe("30", 0, "guider"), "34": probe("32", 0, "custom")})
    result, seen = run(comfy_registry, prompt)
    assert result.success, result.error
    assert torch.allclose(seen["guider"]["samples"], seen["custom"]["samples"], atol=1e-5)


def test_comfy_sample_callback_gets_step_x0_x_total(comfy_registry):
    import comfy.sample
    import comfy.sd
    import core.paths
    import torch

    model, clip, _vae, _ = comfy.sd.load_checkpoint_guess_config(
        core.paths.get().get_full_path_or_raise("checkpoints", "tiny_sd15.safetensors"))
    cond = clip.encode_from_tokens_scheduled(clip.tokenize("a cat"))
    latent = torch.zeros(1, 4, 8, 8)
    steps_seen = []
    comfy.sample.sample(model, comfy.sample.prepare_noise(latent, 1), 2, 3.0, "euler", "normal", cond, cond, latent,
                        callback=lambda step, x0, x, total: steps_seen.append((step, tuple(x0.shape), total)))
    assert steps_seen == [(0, (1, 4, 8, 8), 2), (1, (1, 4, 8, 8), 2)]


def test_k_diffusion_names_run_our_samplers(comfy_registry):
    import comfy.k_diffusion.sampling as kds
    import torch

    x = torch.ones(1, 1, 2, 2)
    sigmas = torch.tensor([2.0, 1.0, 0.0])
    out = kds.sample_euler(lambda x, s, **extra: x * 0, x, sigmas, extra_args={"seed": 0})
    assert torch.allclose(out, torch.zeros_like(x))  # denoiser says x0 = 0: Euler lands on 0
    assert torch.equal(kds.get_sigmas_karras(3, 0.1, 10.0)[-1], torch.tensor(0.0))
