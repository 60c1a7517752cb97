"""FLUX.2 transformer: equal to diffusers' Flux2Transformer2DModel on the same tensors (klein- and dev-like,
with and without reference images), the full-size layouts of the releases on the meta device, and detection."""
from __future__ import annotations

import pytest
import torch

from tests import testdata
from flux2_toys import diffusers_kv_velocities, diffusers_twin, diffusers_velocity, tiny_config, tiny_flux2

MANIFESTS = {"flux2_klein_4b": "KLEIN_4B", "flux2_klein_9b": "KLEIN_9B", "flux2_dev": "DEV"}


def inputs(config, refs: int = 0, seed: int = 7):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 128, 4, 6, generator=g)
    context = torch.randn(2, 5, config.context_in_dim, generator=g)
    ref_latents = [torch.randn(1, 128, 3, 5, generator=g), torch.randn(1, 128, 2, 2, generator=g)][:refs]
    return x, context, ref_latents


@pytest.mark.parametrize("guidance_embed", [False, True], ids=["klein", "dev"])
def test_tiny_flux2_equals_diffusers_flux2_transformer(guidance_embed):
    config = tiny_config(guidance_embed)
    ours = tiny_flux2(config, seed=3)
    ref = diffusers_twin(ours)
    x, context, _ = inputs(config)
    t = torch.tensor([0.83, 0.21])
    guidance = torch.tensor([4.0, 1.0]) if guidance_embed else None
    with torch.no_grad():
        got = ours(x, t, context, guidance=guidance)
        want = diffusers_velocity(ref, x, t, context, guidance)
    assert got.shape == x.shape
    assert float(want.abs().max()) > 0.5  # a real signal, not two near-zero outputs
    assert torch.allclose(got, want, atol=1e-4, rtol=0), float((got - want).abs().max())


def test_reference_latents_enter_as_diffusers_flux2_image_latents():
    config = tiny_config()
    ours = tiny_flux2(config, seed=4)
    ref = diffusers_twin(ours)
    x, context, refs = inputs(config, refs=2)
    t = torch.tensor([0.6, 0.6])
    with torch.no_grad():
        got = ours(x, t, context, ref_latents=refs)
        want = diffusers_velocity(ref, x, t, context, None, refs)
        plain = ours(x, t, context)
    assert got.shape == x.shape  # only the tokens being denoised come out
    assert torch.allclose(got, want, atol=1e-4, rtol=0), float((got - want).abs().max())
    assert not torch.allclose(got, plain, atol=1e-3)


def test_guidance_changes_the_output_of_a_dev_model_only():
    x, context, _ = inputs(tiny_config())
    t = torch.tensor([0.5, 0.5])
    for guidance_embed in (True, False):
        model = tiny_flux2(tiny_config(guidance_embed))
        with torch.no_grad():
            a = model(x, t, context, y=torch.tensor([[1.0], [1.0]]))
            b = model(x, t, context, y=torch.tensor([[4.0], [4.0]]))
        assert (not torch.allclose(a, b)) == guidance_embed


def test_a_dev_model_without_guidance_says_so():
    model = tiny_flux2(tiny_config(True))
    x, context, _ = inputs(tiny_config(True))
    with pytest.raises(ValueError, match="guidance"):
        model(x, torch.tensor([0.5, 0.5]), context)


def test_a_context_of_the_wrong_width_names_the_expected_encoder():
    model = tiny_flux2(tiny_config())
    x, _, _ = inputs(tiny_config())
    with pytest.raises(ValueError, match="width 20, this model expects 24.*CLIPLoader type 'flux2'"):
        model(x, torch.tensor([0.5, 0.5]), torch.randn(2, 5, 20))


def test_blocks_are_plain_module_lists_that_layer_streaming_can_walk():
    model = tiny_flux2(tiny_config(depth=3, single=2))
    assert type(model.double_blocks) is torch.nn.ModuleList and len(model.double_blocks) == 3
    assert type(model.single_blocks) is torch.nn.ModuleList and len(model.single_blocks) == 2
    # modulation is shared, outside the blocks: a block holds only its own weights
    assert not any("modulation" in k for k in model.single_blocks[0].state_dict())


def full_size(name: str):
    from core.models import flux2

    with torch.device("meta"):
        return flux2.Flux2(getattr(flux2, MANIFESTS[name]))


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_full_size_flux2_state_dict_equals_the_manifest(name):
    manifest = testdata.manifest(name)
    model = full_size(name)
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert set(ours) == set(manifest["keys"])
    assert {k: s for k, s in ours.items() if manifest["keys"][k] != s} == {}
    assert sum(p.numel() for p in model.parameters()) == manifest["components"]["transformer"]["params"]


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_the_manifest_is_the_layout_diffusers_single_file_converter_reads(name):
    from diffusers import Flux2Transformer2DModel
    from diffusers.loaders.single_file_utils import convert_flux2_transformer_checkpoint_to_diffusers

    manifest = testdata.manifest(name)
    c = manifest["config"]
    with torch.device("meta"):
        ref = Flux2Transformer2DModel(num_layers=c["depth"], num_single_layers=c["depth_single_blocks"],
                                      num_attention_heads=c["num_heads"], joint_attention_dim=c["context_in_dim"],
                                      guidance_embeds=c["guidance_embed"])
    converted = convert_flux2_transformer_checkpoint_to_diffusers(
        {k: torch.empty(s, device="meta") for k, s in manifest["keys"].items()})
    assert {k: list(v.shape) for k, v in converted.items()} == {k: list(v.shape) for k, v in ref.state_dict().items()}


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_detection_reads_the_published_config_from_the_manifests_shapes(name):
    from core.models import flux2
    from core.models.detection import detect

    shapes = {k: tuple(v) for k, v in testdata.manifest(name)["keys"].items()}
    cfg = detect(shapes, name=f"{name}.safetensors")
    assert (cfg.family, cfg.prediction, cfg.in_channels) == ("flux2", "flow", 128)
    assert cfg.unet == getattr(flux2, MANIFESTS[name])
    assert cfg.extra["variant"] == ("dev" if name == "flux2_dev" else "klein")


def test_detection_accepts_the_bundled_checkpoint_prefix_and_keeps_flux1_apart():
    from core.models.detection import detect

    shapes = {"model.diffusion_model." + k: tuple(v) for k, v in testdata.manifest("flux2_klein_4b")["keys"].items()}
    assert detect(shapes).extra["unet_prefix"] == "model.diffusion_model."
    flux1 = {k: tuple(v) for k, v in testdata.manifest("flux1_dev")["keys"].items()}
    assert detect(flux1).family == "flux"


def test_detection_of_a_tiny_flux2_recovers_its_config():
    from core.models.detection import detect

    config = tiny_config(True, depth=2, single=3)
    assert detect(dict(tiny_flux2(config).state_dict())).unet == config


def test_reference_kv_mode_equals_diffusers_klein_kv_extract_and_cached_steps():
    config = tiny_config()
    ours = tiny_flux2(config, seed=5)
    ref = diffusers_twin(ours)
    x, context, refs = inputs(config, refs=2)
    steps = [torch.tensor([0.9, 0.9]), torch.tensor([0.4, 0.4])]
    kv = ours.with_reference_kv()
    with torch.no_grad():
        want = diffusers_kv_velocities(ref, x, steps, context, refs)
        got = [kv(x, t, context, ref_latents=refs) for t in steps]
        plain = ours(x, steps[0], context, ref_latents=refs)
    for g, w in zip(got, want):
        assert torch.allclose(g, w, atol=1e-4, rtol=0), float((g - w).abs().max())
    assert not torch.allclose(got[0], plain, atol=1e-3)  # the mode changes what references contribute


def test_the_reference_kv_view_shares_the_weights_and_leaves_the_network_as_it_was():
    model = tiny_flux2(tiny_config())
    kv = model.with_reference_kv()
    assert kv.reference_kv and not model.reference_kv
    assert kv.double_blocks is model.double_blocks and kv.img_in.weight is model.img_in.weight
    x, context, _ = inputs(tiny_config())
    with torch.no_grad():  # without references the mode changes nothing
        assert torch.equal(kv(x, torch.tensor([0.5, 0.5]), context), model(x, torch.tensor([0.5, 0.5]), context))
