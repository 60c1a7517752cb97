"""InstructPix2Pix: 8-channel U-Nets are detected, InstructPixToPixConditioning carries the input image's
latent, and the U-Net sees what diffusers' StableDiffusionInstructPix2PixPipeline feeds it (noisy latent
scaled for the step ++ the image's unscaled VAE latent) and answers like diffusers' U-Net on it."""
import pytest
import torch

from core.models import detection
from core.models.checkpoint import load_checkpoint
from core.models.tiny import tiny_state_dict, write_tiny_checkpoint

pytestmark = pytest.mark.usefixtures("cpu_fp32")


@pytest.fixture(scope="module")
def ip2p(tmp_path_factory):
    from core import devices

    devices.configure({"cpu": True, "force_fp32": True})
    path = write_tiny_checkpoint(tmp_path_factory.mktemp("ip2p") / "tiny_ip2p.safetensors", "sd15_ip2p")
    return load_checkpoint(path)


def _image(seed=0, h=64, w=64):
    return torch.rand(1, h, w, 3, generator=torch.Generator().manual_seed(seed))


def test_an_8_channel_unet_is_detected_as_instruct_pix2pix():
    sd, _ = tiny_state_dict("sd15_ip2p")
    cfg = detection.detect(sd)
    assert (cfg.family, cfg.in_channels, cfg.inpaint, cfg.extra.get("ip2p")) == ("sd1", 8, False, True)
    assert not detection.detect(tiny_state_dict("sd15")[0]).extra.get("ip2p")


def test_the_node_puts_the_raw_image_latent_on_both_conditionings_and_an_empty_latent_out(ip2p):
    from nodes.conditioning import InstructPixToPixConditioning

    _, clip, vae = ip2p
    pos, neg = clip.encode("make it snow"), clip.encode("")
    image = _image()
    p, n, latent = InstructPixToPixConditioning().execute(pos, neg, image, vae)
    expected = vae.encode(image)
    for c in (p, n):
        torch.testing.assert_close(c[0][1]["concat_latent_image"], expected)
    assert "concat_latent_image" not in pos[0][1]  # inputs are not mutated
    assert torch.equal(latent["samples"], torch.zeros_like(expected))


def test_the_node_crops_the_image_to_whole_latent_cells_centred():
    from nodes.conditioning import InstructPixToPixConditioning

    seen = []

    class RecordingVae:
        def encode(self, pixels):
            seen.append(pixels)
            return torch.zeros(1, 4, pixels.shape[1] // 8, pixels.shape[2] // 8)

    image = _image(h=69, w=70)
    InstructPixToPixConditioning().execute([], [], image, RecordingVae())
    assert torch.equal(seen[0], image[:, 2:66, 3:67])


def test_unet_input_and_output_equal_diffusers_instruct_pix2pix(ip2p):
    from diffusers import AutoencoderKL, EulerDiscreteScheduler
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    from nodes.conditioning import InstructPixToPixConditioning
    from nodes.sampling import KSampler
    from tests.models.test_vs_diffusers import diffusers_unet_from

    model, clip, vae = ip2p
    pos, neg = clip.encode("make it snow"), clip.encode("")
    image = _image(3)
    p, n, latent = InstructPixToPixConditioning().execute(pos, neg, image, vae)
    captured = []
    hook = model.unet.register_forward_pre_hook(lambda mod, args: captured.append((args[0].clone(), args[2].clone())))
    try:
        KSampler().execute(model, 7, 1, 1.0, "euler", "normal", p, n, latent, 1.0)
    finally:
        hook.remove()
    x_in, context = captured[0]

    # diffusers: image latents = the VAE posterior mode, unscaled; latents scaled by the scheduler
    cfg = vae.vae.config
    config = dict(in_channels=3, out_channels=3, latent_channels=cfg.z_channels, norm_num_groups=32,
                  block_out_channels=[cfg.ch * m for m in cfg.ch_mult], layers_per_block=cfg.num_res_blocks,
                  down_block_types=["DownEncoderBlock2D"] * len(cfg.ch_mult),
                  up_block_types=["UpDecoderBlock2D"] * len(cfg.ch_mult))
    ref_vae = AutoencoderKL(**config)
    ref_vae.load_state_dict(convert_ldm_vae_checkpoint(
        {"first_stage_model." + k: v for k, v in vae.vae.state_dict().items()}, config), strict=True)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       timestep_spacing="linspace")
    scheduler.set_timesteps(2)  # linspace spacing: timesteps 999, 0; our one step starts at 999 too
    from core.sampling.sample import prepare_noise

    noise = prepare_noise(latent["samples"], 7)
    with torch.inference_mode():
        image_latents = ref_vae.eval().encode(image.movedim(-1, 1) * 2 - 1).latent_dist.mode()
        # the start latent of a full denoise, N(0, 1 + sigma_max^2) (diffusers' init_noise_sigma with
        # "leading" spacing; its "linspace" spacing starts at sigma_max * n instead)
        latents = noise * (scheduler.sigmas[0] ** 2 + 1) ** 0.5
        t = scheduler.timesteps[0]
        expected = torch.cat([scheduler.scale_model_input(latents, t), image_latents], dim=1)
        assert float(t) == 999
        torch.testing.assert_close(x_in, expected, atol=1e-4, rtol=1e-4)
        ref_unet = diffusers_unet_from(model.unet, model.unet.state_dict())
        theirs = ref_unet(expected, t, encoder_hidden_states=context).sample
        ours = model.unet(x_in, torch.tensor([float(t)]), context)
    assert ours.abs().max() > 1e-3
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=0)


def test_an_ip2p_model_without_the_image_runs_with_zero_image_channels(ip2p):
    from nodes.latent import EmptyLatentImage
    from nodes.sampling import KSampler

    model, clip, _ = ip2p
    captured = []
    hook = model.unet.register_forward_pre_hook(lambda mod, args: captured.append(args[0].clone()))
    try:
        out = KSampler().execute(model, 1, 1, 1.0, "euler", "normal", clip.encode("a"), clip.encode(""),
                                 EmptyLatentImage().execute(64, 64, 1)[0], 1.0)[0]["samples"]
    finally:
        hook.remove()
    assert captured[0].shape[1] == 8 and torch.equal(captured[0][:, 4:], torch.zeros_like(captured[0][:, 4:]))
    assert torch.isfinite(out).all()


def test_instruct_pix2pix_workflow_end_to_end(ip2p, tmp_path):
    from nodes.conditioning import InstructPixToPixConditioning
    from nodes.sampling import KSampler

    model, clip, vae = ip2p
    p, n, latent = InstructPixToPixConditioning().execute(clip.encode("make it snow"), clip.encode(""), _image(4), vae)
    a = KSampler().execute(model, 2, 3, 4.0, "euler", "normal", p, n, latent, 1.0)[0]["samples"]
    other = InstructPixToPixConditioning().execute(clip.encode("make it snow"), clip.encode(""), _image(5), vae)
    b = KSampler().execute(model, 2, 3, 4.0, "euler", "normal", other[0], other[1], other[2], 1.0)[0]["samples"]
    assert a.shape == (1, 4, 8, 8) and torch.isfinite(a).all()
    assert not torch.allclose(a, b)  # the input image steers the result
    image = vae.decode(a)
    assert image.shape == (1, 64, 64, 3)
