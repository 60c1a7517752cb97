"""Classifier-free guidance and conditioning resolution, with a toy U-Net whose output reveals its inputs."""
import torch

from core.sampling.denoiser import Denoiser
from core.sampling.guidance import CFGDenoiser, prepare_conds, sdxl_adm
from core.sampling.schedule import DiscreteSchedule

SCHEDULE = DiscreteSchedule()


class ToyUNet:
    """eps = mean of the context over tokens and features, broadcast over the image, plus 0.1 * x."""

    def __init__(self):
        self.calls = []

    def __call__(self, x, t, context, y=None, control=None):
        self.calls.append({"batch": x.shape[0], "hw": tuple(x.shape[-2:]), "control": control, "y": y})
        return context.mean(dim=(1, 2)).reshape(-1, 1, 1, 1).expand_as(x) + 0.1 * x


def cond(value, tokens=77, **opts):
    return [torch.full((1, tokens, 8), float(value)), opts]


def build(positive, negative, cfg, shape=(1, 4, 16, 16), unet=None):
    unet = unet or ToyUNet()
    kw = dict(latent_shape=shape, schedule=SCHEDULE, adm_channels=None, device="cpu", dtype=torch.float32)
    fn = CFGDenoiser(Denoiser(unet, SCHEDULE), prepare_conds(positive, uncond=False, **kw),
                     prepare_conds(negative, uncond=True, **kw), cfg)
    return fn, unet


def single(value, x, sigma):
    fn, _ = build([cond(value)], [cond(value)], 1.0, x.shape)
    return fn(x, sigma)


def test_cond_and_uncond_run_in_one_batched_forward():
    fn, unet = build([cond(1.0)], [cond(-1.0)], 7.5)
    fn(torch.randn(1, 4, 16, 16), torch.tensor([3.0]))
    assert [c["batch"] for c in unet.calls] == [2]


def test_guided_output_is_uncond_plus_cfg_times_difference():
    x, sigma = torch.randn(1, 4, 16, 16), torch.tensor([3.0])
    fn, _ = build([cond(1.0)], [cond(-1.0)], 7.5)
    expected = single(-1.0, x, sigma) + 7.5 * (single(1.0, x, sigma) - single(-1.0, x, sigma))
    torch.testing.assert_close(fn(x, sigma), expected)


def test_cfg_one_skips_the_negative_forward():
    fn, unet = build([cond(1.0)], [cond(-1.0)], 1.0)
    fn(torch.randn(1, 4, 16, 16), torch.tensor([3.0]))
    assert [c["batch"] for c in unet.calls] == [1]


def test_denoise_pair_gives_the_guided_and_the_unconditional_estimate_of_one_call():
    x, sigma = torch.randn(1, 4, 16, 16), torch.tensor([3.0])
    fn, unet = build([cond(1.0)], [cond(-1.0)], 7.5)
    denoised, uncond = fn.denoise_pair(x, sigma)
    assert [c["batch"] for c in unet.calls] == [2]
    torch.testing.assert_close(denoised, fn(x, sigma))
    torch.testing.assert_close(uncond, single(-1.0, x, sigma))


def test_denoise_pair_runs_the_negative_prompt_even_at_cfg_one():
    x, sigma = torch.randn(1, 4, 16, 16), torch.tensor([3.0])
    fn, unet = build([cond(1.0)], [cond(-1.0)], 1.0)
    denoised, uncond = fn.denoise_pair(x, sigma)
    assert [c["batch"] for c in unet.calls] == [2]
    torch.testing.assert_close(denoised, single(1.0, x, sigma))
    torch.testing.assert_close(uncond, single(-1.0, x, sigma))


def test_guidance_keeps_no_estimate_between_calls():
    """No side channel: what a sampler needs comes back from the call that computed it."""
    fn, _ = build([cond(1.0)], [cond(-1.0)], 7.5)
    before = dict(vars(fn))
    fn.denoise_pair(torch.randn(1, 4, 16, 16), torch.tensor([3.0]))
    fn(torch.randn(1, 4, 16, 16), torch.tensor([2.0]))
    assert vars(fn).keys() == before.keys() and all(vars(fn)[k] is v for k, v in before.items())


def test_prompts_of_different_lengths_batch_together_exactly():
    x, sigma = torch.randn(1, 4, 16, 16), torch.tensor([2.0])
    fn, unet = build([cond(1.0, tokens=154)], [cond(-1.0, tokens=77)], 5.0)
    out = fn(x, sigma)
    assert len(unet.calls) == 1
    expected = single(-1.0, x, sigma) + 5.0 * (single(1.0, x, sigma) - single(-1.0, x, sigma))
    torch.testing.assert_close(out, expected)


def test_area_conditioning_only_changes_its_area():
    x, sigma = torch.randn(1, 4, 32, 32), torch.tensor([2.0])
    base, _ = build([cond(1.0)], [cond(0.0)], 1.0, x.shape)
    with_area, unet = build([cond(1.0), cond(5.0, area=(8, 8, 0, 0), strength=1.0)], [cond(0.0)], 1.0, x.shape)
    a, b = base(x, sigma), with_area(x, sigma)
    assert (8, 8) in [c["hw"] for c in unet.calls]
    torch.testing.assert_close(a[:, :, 8:, :], b[:, :, 8:, :])
    torch.testing.assert_close(a[:, :, :, 8:], b[:, :, :, 8:])
    assert not torch.allclose(a[:, :, :4, :4], b[:, :, :4, :4])


def test_mask_conditioning_weights_by_the_mask():
    x, sigma = torch.randn(1, 4, 16, 16), torch.tensor([2.0])
    mask = torch.zeros(1, 128, 128)
    mask[:, :, :64] = 1.0  # left half of the image
    fn, _ = build([cond(1.0), cond(5.0, mask=mask, mask_strength=1.0)], [cond(0.0)], 1.0, x.shape)
    out = fn(x, sigma)
    torch.testing.assert_close(out[:, :, :, 12:], single(1.0, x, sigma)[:, :, :, 12:])
    # fully inside the mask both entries weigh 1: the average of the two estimates
    expected = (single(1.0, x, sigma) + single(5.0, x, sigma)) / 2
    torch.testing.assert_close(out[:, :, :, :4], expected[:, :, :, :4])


def test_control_hook_result_reaches_the_unet():
    class Control:
        def __init__(self):
            self.seen = []

        def get_control(self, x_in, sigma, cond_context, batched_conds):
            self.seen.append((x_in.shape, sigma.shape, cond_context["c_crossattn"].shape, batched_conds))
            return {"input": [None], "middle": [torch.zeros(1)]}

    control = Control()
    fn, unet = build([cond(1.0, control=control)], [cond(-1.0)], 3.0)
    fn(torch.randn(1, 4, 16, 16), torch.tensor([2.0]))
    assert control.seen == [((1, 4, 16, 16), (1,), (1, 77, 8), 1)]
    assert sorted(c["control"] is not None for c in unet.calls) == [False, True]


def _diffusers_size_embedding(values) -> torch.Tensor:
    """SDXL's ``add_time_proj`` in diffusers (an independent implementation): Timesteps(256, cos first, no shift)."""
    from diffusers.models.embeddings import get_timestep_embedding

    t = torch.tensor(values, dtype=torch.float32)
    return get_timestep_embedding(t, 256, flip_sin_to_cos=True, downscale_freq_shift=0).reshape(1, -1)


def test_sdxl_vector_is_pooled_text_then_the_size_and_crop_embeddings():
    pooled = torch.randn(1, 1280)
    opts = {"pooled_output": pooled, "width": 1024, "height": 768, "crop_w": 16, "crop_h": 8,
            "target_width": 1024, "target_height": 1024}
    y = sdxl_adm(opts, 2816, (96, 128), batch=2)
    expected = torch.cat([pooled, _diffusers_size_embedding([768, 1024, 8, 16, 1024, 1024])], dim=1)
    assert y.shape == (2, 2816)
    torch.testing.assert_close(y, expected.expand(2, -1))


def test_sdxl_vector_defaults_to_the_latent_size():
    pooled = torch.randn(1, 1280)
    y = sdxl_adm({"pooled_output": pooled}, 2816, (64, 96), batch=1)
    torch.testing.assert_close(y, torch.cat([pooled, _diffusers_size_embedding([512, 768, 0, 0, 512, 768])], dim=1))


def test_sdxl_refiner_vector_ends_with_the_aesthetic_score():
    pooled = torch.randn(1, 1280)
    opts = {"pooled_output": pooled, "width": 1024, "height": 768, "aesthetic_score": 2.5}
    y = sdxl_adm(opts, 2560, (96, 128), batch=1)
    torch.testing.assert_close(y, torch.cat([pooled, _diffusers_size_embedding([768, 1024, 0, 0, 2.5])], dim=1))


def test_out_of_memory_splits_the_batch_and_gives_the_same_result():
    class TightUNet(ToyUNet):
        def __call__(self, x, t, context, y=None, control=None):
            if x.shape[0] > 1:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
            return super().__call__(x, t, context, y, control)

    x, sigma = torch.randn(1, 4, 16, 16), torch.tensor([3.0])
    roomy, _ = build([cond(1.0)], [cond(-1.0)], 7.5)
    tight, unet = build([cond(1.0)], [cond(-1.0)], 7.5, unet=TightUNet())
    torch.testing.assert_close(tight(x, sigma), roomy(x, sigma))
    assert [c["batch"] for c in unet.calls] == [1, 1]
