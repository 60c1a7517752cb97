"""A tiny FLUX.2 [klein] file loaded the way users load one (UNETLoader, VAELoader) and sampled end to end with
the nodes of the official FLUX.2 [klein] text-to-image template (EmptyFlux2LatentImage, Flux2Scheduler,
SamplerCustomAdvanced) on a random text context."""
from __future__ import annotations

import torch


def write_models(folders, variant: str = "klein"):
    from core.models.tiny import write_tiny_flux2, write_tiny_flux2_vae

    unet = {"klein": "flux-2-klein-4b.safetensors", "dev": "flux2_dev_fp8mixed.safetensors"}[variant]
    write_tiny_flux2(folders.base / "models" / "diffusion_models" / unet, variant)
    write_tiny_flux2_vae(folders.base / "models" / "vae" / "flux2-vae.safetensors")
    return unet, "flux2-vae.safetensors"


def conditioning(seed: int, tokens: int = 6):
    """What CLIPLoader type 'flux2' + CLIPTextEncode give: 3 stacked hidden states of the encoder per token."""
    from core.models.tiny import TEXT_WIDTH

    g = torch.Generator().manual_seed(seed)
    return [[torch.randn(1, tokens, 3 * TEXT_WIDTH, generator=g), {}]]


def test_unetloader_loads_a_flux2_file_as_a_flow_model_without_a_config_choice(cpu_fp32, folders):
    from core.models.flux2 import Flux2
    from core.sampling.model_sampling import FluxSchedule
    from nodes.loaders import UNETLoader

    unet, _ = write_models(folders)
    (model,) = UNETLoader().execute(unet, "default")
    assert isinstance(model.unet, Flux2)
    assert (model.config.family, model.config.prediction, model.config.extra["variant"]) == ("flux2", "flow", "klein")
    assert isinstance(model.model_sampling, FluxSchedule) and model.model_sampling.shift == 2.02
    assert model.latent_format.latent_channels == 128


def run_klein_template(model, vae, seed: int = 5, cfg: float = 1.0, width: int = 128, height: int = 96):
    from nodes.custom_sampling import KSamplerSelect
    from nodes.flux2 import EmptyFlux2LatentImage, Flux2Scheduler
    from nodes.guiders import CFGGuider, RandomNoise, SamplerCustomAdvanced
    from nodes.vae import VAEDecode

    (latent,) = EmptyFlux2LatentImage().execute(width, height, 1)
    (sigmas,) = Flux2Scheduler().execute(4, width, height)
    (guider,) = CFGGuider().execute(model, conditioning(1), conditioning(2), cfg)
    (noise,) = RandomNoise().execute(seed)
    (sampler,) = KSamplerSelect().execute("euler")
    out, denoised = SamplerCustomAdvanced().execute(noise, guider, sampler, sigmas, latent)
    (image,) = VAEDecode().execute(vae, out)
    return out, image


def test_klein_text_to_image_runs_end_to_end_and_repeats_bit_for_bit(cpu_fp32, folders):
    from nodes.loaders import UNETLoader, VAELoader

    unet, vae_name = write_models(folders)
    (model,) = UNETLoader().execute(unet, "default")
    (vae,) = VAELoader().execute(vae_name)
    out, image = run_klein_template(model, vae)
    again, _ = run_klein_template(model, vae)
    other, _ = run_klein_template(model, vae, seed=6)
    assert out["samples"].shape == (1, 128, 6, 8)
    assert torch.isfinite(out["samples"]).all() and float(out["samples"].std()) > 0.1
    assert torch.equal(out["samples"], again["samples"])
    assert not torch.allclose(out["samples"], other["samples"])
    assert image.shape == (1, 96, 128, 3) and float(image.std()) > 0


def test_cfg_above_one_uses_the_negative_prompt_as_the_base_template_does(cpu_fp32, folders):
    from nodes.loaders import UNETLoader, VAELoader

    unet, vae_name = write_models(folders)
    (model,) = UNETLoader().execute(unet, "default")
    (vae,) = VAELoader().execute(vae_name)
    plain, _ = run_klein_template(model, vae, cfg=1.0)
    guided, _ = run_klein_template(model, vae, cfg=5.0)
    assert not torch.allclose(plain["samples"], guided["samples"])


def test_flux_guidance_reaches_a_dev_model(cpu_fp32, folders):
    from nodes.conditioning import FluxGuidance
    from nodes.custom_sampling import KSamplerSelect
    from nodes.flux2 import EmptyFlux2LatentImage, Flux2Scheduler
    from nodes.guiders import BasicGuider, RandomNoise, SamplerCustomAdvanced
    from nodes.loaders import UNETLoader

    unet, _ = write_models(folders, "dev")
    (model,) = UNETLoader().execute(unet, "default")
    assert model.config.extra["variant"] == "dev"
    (latent,) = EmptyFlux2LatentImage().execute(64, 64, 1)
    (sigmas,) = Flux2Scheduler().execute(3, 64, 64)
    outs = []
    for g in (1.0, 4.0):
        (positive,) = FluxGuidance().execute(conditioning(1), g)
        (guider,) = BasicGuider().execute(model, positive)
        out, _ = SamplerCustomAdvanced().execute(RandomNoise().execute(3)[0], guider,
                                                 KSamplerSelect().execute("euler")[0], sigmas, latent)
        outs.append(out["samples"])
    assert not torch.allclose(outs[0], outs[1])


def test_template_file_names_get_tiny_flux2_stand_ins(tmp_path):
    from core.models.detection import detect
    from core.models.standins import provision
    from core.models.weights import load_file

    prompt = {"1": {"class_type": "UNETLoader", "inputs": {"unet_name": "flux-2-klein-base-9b-fp8.safetensors"}},
              "2": {"class_type": "UNETLoader", "inputs": {"unet_name": "flux2_dev_fp8mixed.safetensors"}},
              "3": {"class_type": "VAELoader", "inputs": {"vae_name": "full_encoder_small_decoder.safetensors"}}}
    assert provision(prompt, tmp_path) == []
    models = tmp_path / "models"
    klein = detect(load_file(models / "diffusion_models" / "flux-2-klein-base-9b-fp8.safetensors")[0])
    dev = detect(load_file(models / "diffusion_models" / "flux2_dev_fp8mixed.safetensors")[0])
    assert (klein.family, klein.extra["variant"], dev.extra["variant"]) == ("flux2", "klein", "dev")
    assert "bn.running_mean" in load_file(models / "vae" / "full_encoder_small_decoder.safetensors")[0]


def test_ksampler_samples_flux2_with_its_default_model_sampling(cpu_fp32, folders):
    from nodes.flux2 import EmptyFlux2LatentImage
    from nodes.loaders import UNETLoader
    from nodes.sampling import KSampler

    unet, _ = write_models(folders)
    (model,) = UNETLoader().execute(unet, "default")
    (latent,) = EmptyFlux2LatentImage().execute(64, 48, 1)
    # a text encoder may leave a pooled vector in the entry; FLUX.2 has no use for it
    positive = [[conditioning(1)[0][0], {"pooled_output": torch.randn(1, 7)}]]
    (out,) = KSampler().execute(model, 7, 3, 2.0, "euler", "simple", positive, conditioning(2), latent, 1.0)
    assert out["samples"].shape == (1, 128, 3, 4) and torch.isfinite(out["samples"]).all()
    assert float(out["samples"].std()) > 0.1
