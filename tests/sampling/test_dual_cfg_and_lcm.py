"""DualCFGGuider (regular and nested dual guidance) and SamplerLCM (LCM with tunable per-step noise),
checked against the update rules computed here by hand on a denoiser whose estimates are known."""
import pytest
import torch

from core.sampling.dual_cfg import DualCFGDenoiser
from core.sampling.guidance import prepare_conds
from core.sampling.model_sampling import FlowSchedule
from core.sampling.samplers import get_sampler
from core.sampling.samplers_lcm import lcm_tunable, noise_multipliers
from core.sampling.schedule import DiscreteSchedule

SHAPE = (1, 4, 2, 2)


class ConstantDenoiser:
    """D(x; sigma) = the conditioning's value (its context holds one token of 4 channels); counts items."""

    def __init__(self):
        self.items = 0

    def __call__(self, x, sigma, context, y=None, control=None, concat=None):
        self.items += x.shape[0]
        return context[:, 0, :, None, None].expand(x.shape).clone()


def _cond(value: float):
    return [[torch.full((1, 1, 4), value), {}]]


def _prepare(conds, uncond=False):
    return prepare_conds(conds, uncond=uncond, latent_shape=SHAPE, schedule=DiscreteSchedule(), adm_channels=None,
                         device="cpu", dtype=torch.float32)


def _dual(p, m, n, cfg1, cfg2, nested, options=None):
    den = ConstantDenoiser()
    fn = DualCFGDenoiser(den, _prepare(_cond(p)), _prepare(_cond(m), True), _prepare(_cond(n), True), cfg1, cfg2,
                         nested, options or {})
    return fn, den


def test_regular_dual_cfg_is_cfg_of_middle_over_negative_plus_cfg1_times_cond1_minus_middle():
    fn, _ = _dual(3.0, 1.0, 0.5, 2.0, 4.0, nested=False)
    out = fn(torch.zeros(SHAPE), torch.tensor([1.0]))
    expected = (0.5 + 4.0 * (1.0 - 0.5)) + 2.0 * (3.0 - 1.0)
    torch.testing.assert_close(out, torch.full(SHAPE, expected))


def test_nested_dual_cfg_guides_the_text_estimate_against_the_negative():
    fn, _ = _dual(3.0, 1.0, 0.5, 2.0, 4.0, nested=True)
    out = fn(torch.zeros(SHAPE), torch.tensor([1.0]))
    text = 1.0 + 2.0 * (3.0 - 1.0)
    torch.testing.assert_close(out, torch.full(SHAPE, 0.5 + 4.0 * (text - 0.5)))


def test_regular_dual_cfg_runs_all_three_conditionings_in_one_batch():
    fn, den = _dual(3.0, 1.0, 0.5, 2.0, 4.0, nested=False)
    fn(torch.zeros(SHAPE), torch.tensor([1.0]))
    assert den.items == 3


def test_regular_dual_cfg_skips_the_negative_at_cfg2_one_and_the_middle_too_at_cfg1_one():
    fn, den = _dual(3.0, 1.0, 0.5, 2.0, 1.0, nested=False)
    out = fn(torch.zeros(SHAPE), torch.tensor([1.0]))
    assert den.items == 2
    torch.testing.assert_close(out, torch.full(SHAPE, 1.0 + 2.0 * (3.0 - 1.0)))
    fn, den = _dual(3.0, 1.0, 0.5, 1.0, 1.0, nested=False)
    torch.testing.assert_close(fn(torch.zeros(SHAPE), torch.tensor([1.0])), torch.full(SHAPE, 3.0))
    assert den.items == 1


def test_the_skip_is_off_when_the_model_disables_the_cfg1_optimisation():
    fn, den = _dual(3.0, 1.0, 0.5, 1.0, 1.0, nested=False, options={"disable_cfg1_optimization": True})
    fn(torch.zeros(SHAPE), torch.tensor([1.0]))
    assert den.items == 3


def test_denoise_pair_gives_the_negative_estimate_for_cfg_pp_samplers():
    fn, _ = _dual(3.0, 1.0, 0.5, 2.0, 1.0, nested=False)
    _, uncond = fn.denoise_pair(torch.zeros(SHAPE), torch.tensor([1.0]))
    torch.testing.assert_close(uncond, torch.full(SHAPE, 0.5))


def test_dual_cfg_applies_the_models_post_cfg_functions_to_the_inner_cfg():
    seen = []

    def post(args):
        seen.append(float(args["cond_denoised"].flatten()[0]))
        return args["denoised"]

    fn, _ = _dual(3.0, 1.0, 0.5, 2.0, 4.0, nested=False, options={"sampler_post_cfg_function": [post]})
    fn(torch.zeros(SHAPE), torch.tensor([1.0]))
    assert seen == [1.0]  # the middle is the inner CFG's conditional estimate


def test_skip_layer_guidance_reruns_the_conditioning_of_the_inner_cfg():
    from core.sampling.guidance import SkipLayerGuidance

    class Skipping(ConstantDenoiser):
        def __call__(self, x, sigma, context, y=None, control=None, concat=None, transformer_options=None):
            out = super().__call__(x, sigma, context)
            return out - 0.25 if transformer_options else out  # the skipped estimate is 0.25 lower

    slg = SkipLayerGuidance(double_layers=(1,), single_layers=(), scale=2.0, sigma_start=1e9, sigma_end=0.0)
    den = Skipping()
    fn = DualCFGDenoiser(den, _prepare(_cond(3.0)), _prepare(_cond(1.0), True), _prepare(_cond(0.5), True), 2.0, 4.0,
                         False, {"skip_layer_guidance": slg})
    out = fn(torch.zeros(SHAPE), torch.tensor([1.0]))
    # regular: the inner CFG is over the middle, so its skipped re-run is the middle's: + 2.0 * 0.25
    expected = (0.5 + 4.0 * (1.0 - 0.5)) + 2.0 * 0.25 + 2.0 * (3.0 - 1.0)
    torch.testing.assert_close(out, torch.full(SHAPE, expected))


@pytest.mark.usefixtures("cpu_fp32")
def test_dual_cfg_guider_with_cond2_equal_to_negative_is_cfg_guider(tiny_models):
    from nodes.custom_sampling import BasicScheduler, KSamplerSelect
    from nodes.guiders import CFGGuider, DualCFGGuider, RandomNoise, SamplerCustomAdvanced
    from nodes.latent import EmptyLatentImage

    _, (model, clip, _) = tiny_models("sd15")
    pos, neg = clip.encode("a cat"), clip.encode("blurry")
    latent = EmptyLatentImage().execute(64, 64, 1)[0]
    noise, sampler = RandomNoise().execute(3)[0], KSamplerSelect().execute("euler")[0]
    sigmas = BasicScheduler().execute(model, "normal", 3, 1.0)[0]
    ref = SamplerCustomAdvanced().execute(noise, CFGGuider().execute(model, pos, neg, 5.0)[0], sampler, sigmas,
                                          latent)[0]["samples"]
    dual = DualCFGGuider().execute(model, pos, neg, neg, 5.0, 3.0, "regular")[0]
    out = SamplerCustomAdvanced().execute(noise, dual, sampler, sigmas, latent)[0]["samples"]
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)
    nested = DualCFGGuider().execute(model, pos, pos, neg, 2.0, 5.0, "nested")[0]
    out = SamplerCustomAdvanced().execute(noise, nested, sampler, sigmas, latent)[0]["samples"]
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)


# --- SamplerLCM --------------------------------------------------------------------------------------

class FixedNoise:
    def __init__(self, values):
        self.values = list(values)

    def __call__(self, sigma, sigma_next):
        return self.values.pop(0)


def _half(x, sigma):
    return 0.5 * x


def test_noise_multipliers_run_linearly_over_the_renoising_steps():
    assert noise_multipliers([4.0, 3.0, 2.0, 1.0, 0.0], 2.0, 0.5) == pytest.approx([2.0, 1.25, 0.5, 0.0])
    assert noise_multipliers([4.0, 0.0], 2.0, 0.5) == [0.0]


def test_lcm_jumps_to_x0_and_renoises_with_the_scaled_noise():
    sigmas = torch.tensor([4.0, 2.0, 1.0, 0.0])
    n1, n2 = torch.full(SHAPE, 1.0), torch.full(SHAPE, -2.0)
    x = torch.full(SHAPE, 8.0)
    out = lcm_tunable(_half, x, sigmas, noise_sampler=FixedNoise([n1, n2]), s_noise=1.5, s_noise_end=0.5)
    x1 = 0.5 * 8.0 + 1.5 * 1.0 * 2.0
    x2 = 0.5 * x1 + 0.5 * -2.0 * 1.0
    torch.testing.assert_close(out, torch.full(SHAPE, 0.5 * x2))


def test_lcm_clamps_the_noise_to_n_standard_deviations():
    noise = torch.tensor([-10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 10.0]).reshape(1, 2, 2, 2)
    bound = 0.5 * float(noise.std())
    seen = []  # the inputs of each model call: the second is the renoised x0 (0) at sigma 1

    def zero(x, sigma):
        seen.append(x.clone())
        return torch.zeros_like(x)

    lcm_tunable(zero, torch.zeros(1, 2, 2, 2), torch.tensor([2.0, 1.0, 0.0]), noise_sampler=FixedNoise([noise]),
                noise_clip_std=0.5)
    torch.testing.assert_close(seen[1], noise.clamp(-bound, bound))
    assert seen[1].abs().max() < 10.0


def test_lcm_on_a_flow_model_renoises_by_interpolation():
    flow = FlowSchedule(shift=1.0)
    n = torch.full(SHAPE, 1.0)
    out = lcm_tunable(lambda x, s: torch.full(SHAPE, 2.0) if float(s[0]) == 1.0 else x, torch.zeros(SHAPE),
                      torch.tensor([1.0, 0.25, 0.0]), noise_sampler=FixedNoise([n]), s_noise=2.0, model_sampling=flow)
    torch.testing.assert_close(out, torch.full(SHAPE, 0.25 * 2.0 * 1.0 + 0.75 * 2.0))


def test_sampler_lcm_at_defaults_equals_the_lcm_sampler():
    from nodes.custom_sampling import SamplerLCM

    sigmas = torch.tensor([6.0, 3.0, 1.0, 0.0])
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1))
    ours = SamplerLCM().execute(1.0, 1.0, 0.0)[0].sample(_half, x, sigmas, seed=5)
    ref = get_sampler("lcm").sample(_half, x, sigmas, seed=5)
    torch.testing.assert_close(ours, ref)


def test_sampler_lcm_node_passes_its_options():
    from nodes.custom_sampling import SamplerLCM

    spec = SamplerLCM().execute(2.0, 0.5, 1.5)[0]
    assert spec.options == {"s_noise": 2.0, "s_noise_end": 0.5, "noise_clip_std": 1.5}
