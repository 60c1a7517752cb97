"""SD2 unCLIP: detection from keys and shapes, the image-embedding noise augmentation and the vector path
checked against diffusers' StableUnCLIPImg2ImgPipeline (noise_image_embeddings with its normaliser and
noising scheduler) and its class-embedding U-Net, and the checkpoint's image tower."""
from types import SimpleNamespace

import pytest
import torch

from core.models import detection
from core.models.tiny import IMAGE_EMBED, tiny_state_dict
from core.models.unclip import augment, level_embedding, noise_level, openclip_visual_to_transformers, sd2_unclip_vector
from tests.testdata import manifest

diffusers = pytest.importorskip("diffusers")


def _unclip_keys(embed: int, with_tower: bool = True) -> dict:
    keys = dict(manifest("sd21_768v")["keys"])
    keys["model.diffusion_model.label_emb.0.0.weight"] = (1280, 2 * embed)
    keys["model.diffusion_model.label_emb.0.0.bias"] = (1280,)
    keys["model.diffusion_model.label_emb.0.2.weight"] = (1280, 1280)
    keys["model.diffusion_model.label_emb.0.2.bias"] = (1280,)
    if with_tower:
        keys["embedder.model.visual.conv1.weight"] = (1280, 3, 14, 14)
    return keys


@pytest.mark.parametrize("embed", [1024, 768])  # sd21-unclip-h (ViT-H/14), sd21-unclip-l (ViT-L/14)
def test_sd21_unclip_checkpoints_are_sd2_with_the_image_embedding_width(embed):
    cfg = detection.detect(_unclip_keys(embed))
    assert cfg.family == "sd2" and cfg.adm_in_channels == 2 * embed
    assert cfg.extra["unclip"] == {"embed_dim": embed}
    assert cfg.text_encoders == ("openclip_h",)


def test_the_release_shapes_alone_identify_unclip():
    assert detection.detect(_unclip_keys(1024, with_tower=False)).extra["unclip"] == {"embed_dim": 1024}


def test_tiny_unclip_checkpoint_is_detected_by_its_image_tower():
    sd, metadata = tiny_state_dict("sd21_unclip")
    cfg = detection.detect(sd, metadata)
    assert (cfg.family, cfg.prediction, cfg.extra["unclip"]) == ("sd2", "v", {"embed_dim": IMAGE_EMBED})
    assert "unclip" not in detection.detect(*tiny_state_dict("sd21v")).extra
    assert detection.detect(*tiny_state_dict("sdxl")).family == "sdxl"  # SDXL's vector is not mistaken for it


def _diffusers_noiser(dim: int, mean=None, std=None):
    from diffusers import DDPMScheduler
    from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import StableUnCLIPImageNormalizer

    normalizer = StableUnCLIPImageNormalizer(embedding_dim=dim)
    if mean is not None:
        normalizer.mean.data.copy_(mean)
        normalizer.std.data.copy_(std)
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")
    return SimpleNamespace(image_normalizer=normalizer, image_noising_scheduler=scheduler)


def _diffusers_noised(embeds, level, noise, mean=None, std=None):
    from diffusers import StableUnCLIPImg2ImgPipeline

    fake = _diffusers_noiser(embeds.shape[1], mean, std)
    with torch.inference_mode():
        return StableUnCLIPImg2ImgPipeline.noise_image_embeddings(fake, embeds, level, noise=noise)


@pytest.mark.parametrize("augmentation", [0.0, 0.1, 0.5, 1.0])
def test_noise_augmentation_and_level_embedding_equal_diffusers(augmentation):
    gen = torch.Generator().manual_seed(0)
    embeds, noise = torch.randn(2, 64, generator=gen), torch.randn(2, 64, generator=gen)
    level = noise_level(augmentation)
    ours = torch.cat([augment(embeds, level, noise=noise), level_embedding(level, 64).expand(2, -1)], dim=1)
    torch.testing.assert_close(ours, _diffusers_noised(embeds, level, noise), atol=1e-5, rtol=1e-5)


def test_noise_augmentation_with_data_statistics_equals_diffusers_normaliser():
    gen = torch.Generator().manual_seed(1)
    embeds, noise = torch.randn(1, 32, generator=gen), torch.randn(1, 32, generator=gen)
    mean, std = torch.randn(1, 32, generator=gen), torch.rand(1, 32, generator=gen) + 0.5
    ours = torch.cat([augment(embeds, 300, noise=noise, mean=mean, std=std), level_embedding(300, 32)], dim=1)
    torch.testing.assert_close(ours, _diffusers_noised(embeds, 300, noise, mean, std), atol=1e-5, rtol=1e-5)


def test_the_vector_of_an_image_conditioning_is_its_noised_embedding_weighted_by_strength():
    gen = torch.Generator().manual_seed(2)
    embeds = torch.randn(1, 16, generator=gen)
    entry = {"clip_vision_output": {"image_embeds": embeds}, "strength": 0.7, "noise_augmentation": 0.25}
    y = sd2_unclip_vector({"unclip_conditioning": [entry]}, batch=2, embed_dim=16, seed=5)
    # same seed: the noise is the generator's first draw
    noise = torch.randn(1, 16, generator=torch.Generator().manual_seed(5))
    level = noise_level(0.25)
    expected = torch.cat([augment(embeds, level, noise=noise), level_embedding(level, 16)], dim=1) * 0.7
    assert y.shape == (2, 32)
    torch.testing.assert_close(y, expected.expand(2, -1))


def test_a_conditioning_without_an_image_gives_the_zero_vector():
    y = sd2_unclip_vector({"pooled_output": torch.ones(1, 8)}, batch=3, embed_dim=16)
    assert torch.equal(y, torch.zeros(3, 32))


def test_unet_vector_path_equals_diffusers_projection_class_embedding(cpu_fp32):
    from diffusers import UNet2DConditionModel
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    from core.models.checkpoint import load_unet_from_state_dict
    from tests.models.test_vs_diffusers import diffusers_unet_config

    sd, metadata = tiny_state_dict("sd21_unclip")
    model = load_unet_from_state_dict(sd, "tiny unclip", metadata)
    unet = model.unet
    config = diffusers_unet_config(unet.config)
    for key in ("addition_embed_type", "addition_time_embed_dim", "projection_class_embeddings_input_dim"):
        config.pop(key, None)
    config.update(class_embed_type="projection", projection_class_embeddings_input_dim=2 * IMAGE_EMBED)
    converted = convert_ldm_unet_checkpoint({"model.diffusion_model." + k: v for k, v in unet.state_dict().items()},
                                            config)
    ref = UNet2DConditionModel(**config)
    ref.load_state_dict(converted, strict=True)
    gen = torch.Generator().manual_seed(3)
    x, ctx = torch.randn(2, 4, 8, 8, generator=gen), torch.randn(2, 77, 32, generator=gen)
    embeds, noise = torch.randn(2, IMAGE_EMBED, generator=gen), torch.randn(2, IMAGE_EMBED, generator=gen)
    y = torch.cat([augment(embeds, 100, noise=noise), level_embedding(100, IMAGE_EMBED).expand(2, -1)], dim=1)
    t = torch.tensor([999.0, 10.0])
    class_labels = _diffusers_noised(embeds, 100, noise)
    with torch.inference_mode():
        # the embedding the ResBlocks receive: timestep embedding + the vector's projection
        emb = unet.embed(t, y, torch.float32)
        ref_emb = ref.time_embedding(ref.time_proj(t)) + ref.class_embedding(class_labels)
        ours = unet(x, t, ctx, y)
        theirs = ref.eval()(x, t, encoder_hidden_states=ctx, class_labels=class_labels).sample
    torch.testing.assert_close(emb, ref_emb, atol=1e-5, rtol=1e-5)
    assert (emb - unet.embed(t, torch.zeros_like(y), torch.float32)).abs().max() > 0.1  # the vector matters
    # the tiny U-Net's output is small (~5e-2): the tolerance is relative to it
    torch.testing.assert_close(ours, theirs, atol=1e-4 * float(ours.abs().max()), rtol=0)


def test_openclip_image_tower_converts_to_the_transformers_layout():
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    sd, _ = tiny_state_dict("sd21_unclip")
    out = openclip_visual_to_transformers(sd, "embedder.model.visual.")
    config = CLIPVisionConfig(hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=1,
                              image_size=32, patch_size=8, projection_dim=IMAGE_EMBED)
    with torch.device("meta"):
        expected = {k for k in CLIPVisionModelWithProjection(config).state_dict() if not k.endswith("position_ids")}
    assert set(out) == expected
    fused = sd["embedder.model.visual.transformer.resblocks.1.attn.in_proj_weight"]
    assert torch.equal(out["vision_model.encoder.layers.1.self_attn.k_proj.weight"], fused[64:128])
    assert torch.equal(out["visual_projection.weight"], sd["embedder.model.visual.proj"].t())


def test_a_checkpoint_without_an_image_tower_is_explained():
    with pytest.raises(ValueError, match="no CLIP image tower under 'embedder.model.visual.'"):
        openclip_visual_to_transformers({"x": torch.zeros(1)}, "embedder.model.visual.")
