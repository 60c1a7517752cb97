"""ControlNet: released key layout, residuals as diffusers computes them, and how sampling uses them."""
import pytest
import torch

from core.models.control import tile_to_batch
from core.models.controlnet import (ControlNet, ControlNetHandle, diffusers_to_ldm, load_controlnet,
                                    load_controlnet_module)
from core.models.unet import UNetConfig, UNetModel
from tests.controlnet.control_testnets import control_inputs, tiny_controlnet_state_dict, unet_out


def test_full_size_sd15_controlnet_has_the_manifest_keys_and_shapes(controlnet_manifest):
    with torch.device("meta"):
        model = ControlNet(UNetConfig())
    ours = {"control_model." + k: list(v.shape) for k, v in model.state_dict().items()}
    assert ours == controlnet_manifest["keys"]


@pytest.mark.parametrize("prefixed", [True, False])
def test_loader_accepts_the_file_with_or_without_prefix_and_ignores_bundled_sd(controlnet_manifest, prefixed):
    keys = dict(controlnet_manifest["keys"])
    keys.update({k: v for k, v in controlnet_manifest["optional_keys"].items() if k.startswith("model.diffusion_model.input_blocks.0")})
    sd = {(k if prefixed or not k.startswith("control_model.") else k[len("control_model."):]): torch.empty(v, device="meta")
          for k, v in keys.items()}
    module = load_controlnet_module(sd, dtype=torch.float16)
    assert module.config.model_channels == 320 and module.config.context_dim == 768
    assert module.config.num_res_blocks == (2, 2, 2, 2) and module.dtype == torch.float16


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from safetensors.torch import save_file

    from core.models.tiny import tiny_unet_config

    torch.manual_seed(0)
    cfg = tiny_unet_config("sd15")
    unet = UNetModel(cfg).eval()
    path = tmp_path_factory.mktemp("cn") / "control_tiny.safetensors"
    save_file(tiny_controlnet_state_dict(), str(path))
    return unet, load_controlnet(path), cfg


def test_controlnet_changes_the_unet_output(tiny):
    unet, cn, _ = tiny
    x, sigma, context, hint = control_inputs()
    control = cn.apply(hint, 1.0).get_control(x, sigma, {"c_crossattn": context, "y": None}, 1)
    assert len(control["input"]) == len(unet.input_blocks) and len(control["middle"]) == 1
    assert not torch.allclose(unet_out(unet, x, sigma, context, control), unet_out(unet, x, sigma, context, None))


def test_strength_zero_equals_no_controlnet_bit_for_bit(tiny):
    unet, cn, _ = tiny
    x, sigma, context, hint = control_inputs()
    control = cn.apply(hint, 0.0).get_control(x, sigma, {"c_crossattn": context, "y": None}, 1)
    assert torch.equal(unet_out(unet, x, sigma, context, control), unet_out(unet, x, sigma, context, None))


def test_strength_scales_the_residuals(tiny):
    _, cn, _ = tiny
    x, sigma, context, hint = control_inputs()
    one = cn.apply(hint, 1.0).get_control(x, sigma, {"c_crossattn": context}, 1)
    half = cn.apply(hint, 0.5).get_control(x, sigma, {"c_crossattn": context}, 1)
    assert all(torch.allclose(0.5 * a, b) for a, b in zip(one["input"], half["input"]))


def test_start_and_end_percent_bound_the_steps_it_acts_on(tiny):
    from core.sampling.schedule import DiscreteSchedule

    _, cn, _ = tiny
    x, _, context, hint = control_inputs(batch=1)
    sched = DiscreteSchedule()
    c = cn.apply(hint, 1.0, start_percent=0.2, end_percent=0.6)
    def active(percent):
        sigma = torch.tensor([sched.percent_to_sigma(percent)])
        return c.get_control(x, sigma, {"c_crossattn": context[:1]}, 1) is not None
    assert [active(p) for p in (0.1, 0.3, 0.5, 0.7)] == [False, True, True, False]


def test_chained_controlnets_add_their_residuals(tiny):
    _, cn, _ = tiny
    x, sigma, context, hint = control_inputs()
    ctx = {"c_crossattn": context}
    first = cn.apply(hint, 0.7)
    second = cn.apply(1.0 - hint, 1.3, previous=first)
    a, b = first.get_control(x, sigma, ctx, 1), cn.apply(1.0 - hint, 1.3).get_control(x, sigma, ctx, 1)
    both = second.get_control(x, sigma, ctx, 1)
    assert all(torch.allclose(u + v, w, atol=1e-6) for u, v, w in zip(a["input"], b["input"], both["input"]))
    assert torch.allclose(a["middle"][0] + b["middle"][0], both["middle"][0], atol=1e-6)


def test_hint_is_resized_to_the_output_size_and_tiled_over_the_batch(tiny):
    _, cn, _ = tiny
    x, sigma, context, _ = control_inputs(batch=4, hw=6)
    hint = torch.rand(1, 100, 70, 3)
    c = cn.apply(hint, 1.0)
    out = c.get_control(x, sigma, {"c_crossattn": context}, 2)  # 2 conds x 2 images
    assert out["input"][0].shape == (4, 32, 6, 6)
    resized = tile_to_batch(c.hint_pixels(x), x.shape[0], 2)
    assert resized.shape == (4, 3, 48, 48) and torch.equal(resized[0], resized[3])


def test_batch_items_get_their_own_hint(tiny):
    _, cn, _ = tiny
    x, sigma, context, _ = control_inputs(batch=2)
    hints = torch.rand(2, 64, 64, 3)
    together = cn.apply(hints, 1.0).get_control(x, sigma, {"c_crossattn": context}, 1)
    alone = cn.apply(hints[1:], 1.0).get_control(x[1:], sigma[1:], {"c_crossattn": context[1:]}, 1)
    assert torch.allclose(together["input"][3][1], alone["input"][3][0], atol=1e-5)


def test_residuals_equal_diffusers_controlnet_with_the_same_weights():
    diffusers = pytest.importorskip("diffusers")
    torch.manual_seed(0)
    ref = diffusers.ControlNetModel(
        in_channels=4, block_out_channels=(32, 64), layers_per_block=1, cross_attention_dim=32,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"), attention_head_dim=8,
        conditioning_embedding_out_channels=(16, 32, 96, 256), norm_num_groups=32).eval()
    with torch.no_grad():  # zero-initialised layers would make the comparison trivial
        for p in ref.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ours = load_controlnet_module(diffusers_to_ldm(ref.state_dict()), dtype=torch.float32)
    x, t = torch.randn(2, 4, 8, 8), torch.tensor([500.0, 20.0])
    context, hint = torch.randn(2, 77, 32), torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        down, mid = ref(x, t, encoder_hidden_states=context, controlnet_cond=hint, return_dict=False)
        got = ours(x, hint, t, context)
    assert len(got) == len(down) + 1
    for a, b in zip(got, list(down) + [mid]):
        assert torch.allclose(a, b, atol=1e-4)


def test_hint_block_runs_once_per_job_on_one_conditionings_images(tiny):
    _, cn, _ = tiny
    x, sigma, context, hint = control_inputs(batch=2)  # cond + uncond of one image
    calls = []
    handle = cn.model.input_hint_block.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    try:
        c = cn.apply(hint, 1.0)
        for s in (8.0, 3.0, 0.5):  # three steps
            c.get_control(x, torch.full((2,), s), {"c_crossattn": context}, 2)
    finally:
        handle.remove()
    assert calls == [1]


def test_cached_hint_gives_the_residuals_of_a_plain_forward(tiny):
    _, cn, _ = tiny
    x, sigma, context, hint = control_inputs(batch=2)
    c = cn.apply(hint, 0.8)
    c.get_control(x, sigma * 2, {"c_crossattn": context}, 2)  # fills the cache at another step
    got = c.get_control(x, sigma, {"c_crossattn": context}, 2)
    x_in = x / (sigma[:, None, None, None] ** 2 + 1).sqrt()
    with torch.no_grad():
        plain = cn.model(x_in, tile_to_batch(c.hint_pixels(x), 2, 2), c.schedule.timestep(sigma), context)
    for a, b in zip(got["input"] + got["middle"], plain):
        assert torch.allclose(a, 0.8 * b, rtol=1e-4, atol=1e-5)


def test_every_controlnet_conv_sees_a_contiguous_input(tiny):
    """A channels-last activation makes a CPU conv re-lay its whole weight out on every call."""
    _, cn, _ = tiny
    x, sigma, context, hint = control_inputs(batch=2)
    seen = []
    hooks = [m.register_forward_pre_hook(lambda m, args, name=name: seen.append((name, args[0].is_contiguous())))
             for name, m in cn.model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    try:
        cn.apply(hint, 1.0).get_control(x, sigma, {"c_crossattn": context}, 1)
    finally:
        for h in hooks:
            h.remove()
    assert seen and [name for name, ok in seen if not ok] == []


def test_sampling_runs_the_controlnet_once_per_step_on_cond_and_uncond_together(tiny):
    from core import devices
    from core.models.detection import ModelConfig
    from core.models.handles import ModelHandle
    from core.models.latent_formats import SD15
    from core.sampling.sample import ksampler_sigmas, prepare_noise, sample_custom
    from core.sampling.samplers import get_sampler
    from nodes.controlnet import ControlNetApplyAdvanced

    unet, cn, cfg = tiny
    devices.configure({"cpu": True, "force_fp32": True})
    model = ModelHandle(unet, ModelConfig(family="sd1", prediction="eps", unet=cfg), SD15)
    _, _, context, hint = control_inputs(batch=2)
    pos, neg = ControlNetApplyAdvanced().execute([[context[:1], {}]], [[context[1:], {}]], cn, hint, 1.0, 0.0, 1.0)
    batches = []
    handle = cn.model.register_forward_pre_hook(lambda m, args, kwargs: batches.append(args[0].shape[0]),
                                                with_kwargs=True)
    try:
        latent = torch.zeros(1, 4, 8, 8)
        sigmas = ksampler_sigmas(model, 3, "euler", "normal")
        sample_custom(model, prepare_noise(latent, 1), 7.0, get_sampler("euler"), sigmas, pos, neg, latent, seed=1)
    finally:
        handle.remove()
    assert batches == [2, 2, 2]


@pytest.mark.parametrize("sampler", __import__("core.sampling.names", fromlist=["x"]).SAMPLER_NAMES)
def test_every_sampler_runs_with_a_controlnet_on_a_batch(tiny, sampler):
    """Multi-evaluation samplers call the model at sub-step sigmas; the control must follow each call."""
    from core import devices
    from core.models.detection import ModelConfig
    from core.models.handles import ModelHandle
    from core.models.latent_formats import SD15
    from core.sampling.sample import ksampler_sigmas, prepare_noise, sample_custom
    from core.sampling.samplers import get_sampler
    from nodes.controlnet import ControlNetApplyAdvanced

    unet, cn, cfg = tiny
    devices.configure({"cpu": True, "force_fp32": True})
    model = ModelHandle(unet, ModelConfig(family="sd1", prediction="eps", unet=cfg), SD15)
    _, _, context, hint = control_inputs(batch=2)
    pos, neg = [[context[:1], {}]], [[context[1:], {}]]
    latent = torch.zeros(2, 4, 8, 8)
    sigmas = ksampler_sigmas(model, 3, sampler, "karras")

    def run(positive, negative):
        noise = prepare_noise(latent, 5)
        return sample_custom(model, noise, 5.0, get_sampler(sampler), sigmas, positive, negative, latent, seed=5)

    plain = run(pos, neg)
    controlled = run(*ControlNetApplyAdvanced().execute(pos, neg, cn, hint, 1.0, 0.0, 1.0))
    assert controlled.shape == (2, 4, 8, 8) and torch.isfinite(controlled).all()
    assert not torch.allclose(plain, controlled)
    per_item = (plain - controlled).flatten(1).abs().amax(1)
    assert (per_item > 0).all()  # both batch items got the control


def test_loader_names_a_missing_weight_and_the_file():
    sd = tiny_controlnet_state_dict()
    del sd["control_model.zero_convs.3.0.weight"]
    with pytest.raises(ValueError, match=r"ControlNet cn\.safetensors: .*1 missing \(first: zero_convs\.3\.0\.weight\)"):
        load_controlnet_module(sd, where="ControlNet cn.safetensors")


def test_loader_keeps_the_files_dtype_and_shares_its_memory():
    sd = {k: v.half() for k, v in tiny_controlnet_state_dict().items()}
    module = load_controlnet_module(sd)
    weight = module.zero_convs[0][0].weight
    assert module.dtype == torch.float16 and not weight.requires_grad
    assert weight.data_ptr() == sd["control_model.zero_convs.0.0.weight"].data_ptr()  # no copy
