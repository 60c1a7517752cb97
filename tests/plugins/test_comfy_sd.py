"""A pack written against comfy.sd / comfy.sample / CLIP and VAE methods runs on our engine, end to end."""
from __future__ import annotations

from comfypacks import CKPT, probe, run, txt2img_nodes


def test_all_in_one_pack_node_matches_the_builtin_txt2img(comfy_registry):
    import torch

    prompt = txt2img_nodes(seed=7, steps=3, cfg=5.0)
    prompt["6"] = probe("5", 0, "builtin")
    prompt["10"] = {"class_type": "AllInOneTxt2Img", "inputs": {
        "ckpt_name": CKPT, "text": "a cat", "negative": "", "seed": 7, "steps": 3, "cfg": 5.0,
        "sampler_name": "euler", "scheduler": "normal", "size": 64}}
    prompt["11"] = probe("10", 1, "pack_latent")
    prompt["12"] = probe("10", 0, "pack_image")
    result, seen = run(comfy_registry, prompt)
    assert result.success, result.error
    # same seed, same sampler, same weights: the plugin path is our engine, so the latents are equal
    assert torch.allclose(seen["pack_latent"]["samples"], seen["builtin"]["samples"], atol=1e-5)
    assert seen["pack_image"].shape == (1, 64, 64, 3)
    assert 0.0 <= float(seen["pack_image"].min()) and float(seen["pack_image"].max()) <= 1.0


def test_subclassed_builtin_encoder_runs_by_comfyui_method_name_and_argument_order(comfy_registry):
    import torch

    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
        "2": {"class_type": "EncodeWithBuiltin", "inputs": {"clip": ["1", 1], "text": "a cat", "suffix": ", red"}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "a cat, red"}},
        "4": probe("2", 0, "sub"), "5": probe("3", 0, "builtin")}
    result, seen = run(comfy_registry, prompt)
    assert result.success, result.error
    (sub_cond, sub_opts), = seen["sub"]
    (ref_cond, _), = seen["builtin"]
    assert torch.equal(sub_cond, ref_cond) and "pooled_output" in sub_opts


def test_node_helpers_set_values_on_every_conditioning_entry(comfy_registry):
    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "a cat"}},
        "3": {"class_type": "AreaFromHelpers", "inputs": {"conditioning": ["2", 0], "strength": 0.25}},
        "4": probe("3", 0, "cond"), "5": probe("2", 0, "original")}
    result, seen = run(comfy_registry, prompt)
    assert result.success, result.error
    assert seen["cond"][0][1]["strength"] == 0.25 and seen["cond"][0][1]["set_area_to_bounds"] is False
    assert "strength" not in seen["original"][0][1]  # a copy: the upstream value is untouched


def test_vae_methods_and_builtin_vae_nodes_called_positionally_round_trip_an_image(comfy_registry):
    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
        "2": {"class_type": "EmptyImage", "inputs": {"width": 76, "height": 64, "batch_size": 1, "color": 0x808080}},
        "3": {"class_type": "VaeRoundTrip", "inputs": {"vae": ["1", 2], "image": ["2", 0]}},
        "4": probe("3", 0, "image")}
    result, seen = run(comfy_registry, prompt)
    assert result.success, result.error
    assert seen["image"].shape == (1, 64, 72, 3)  # 76 cropped to a multiple of 8 by vae_encode_crop_pixels


def test_comfy_sd_objects_answer_isinstance_for_our_loader_values(comfy_registry):
    import comfy.sd
    import core.paths
    from core.models.checkpoint import load_checkpoint

    path = core.paths.get().get_full_path_or_raise("checkpoints", CKPT)
    model, clip, vae = load_checkpoint(path)
    assert isinstance(vae, comfy.sd.VAE) and isinstance(clip, comfy.sd.CLIP)
    assert not isinstance(model, comfy.sd.VAE)


def test_comfy_sd_vae_builds_from_a_state_dict(comfy_registry):
    import comfy.sd
    import comfy.utils
    import core.paths

    sd = comfy.utils.load_torch_file(core.paths.get().get_full_path_or_raise("checkpoints", CKPT))
    vae_sd = comfy.utils.state_dict_prefix_replace(sd, {"first_stage_model.": ""}, filter_keys=True)
    vae = comfy.sd.VAE(sd=vae_sd)
    assert vae.downscale_ratio == 8 and vae.latent_channels == 4


def test_load_lora_for_models_patches_clones_not_the_originals(comfy_registry, tmp_path):
    import comfy.sd
    import core.paths
    import torch

    model, clip, _vae, _ = comfy.sd.load_checkpoint_guess_config(
        core.paths.get().get_full_path_or_raise("checkpoints", CKPT))
    key = "diffusion_model.out.2"
    w = model.get_model_object(key + ".weight")
    lora = {f"{key}.lora_up.weight": torch.ones(w.shape[0], 1, 1, 1),
            f"{key}.lora_down.weight": torch.ones(1, w.shape[1], 3, 3) * 0.01}
    new_model, new_clip = comfy.sd.load_lora_for_models(model, clip, lora, 0.5, 1.0)
    assert new_model is not model and new_clip is not clip
    assert "model.diffusion_model.out.2.weight" in new_model.patches and not model.patches


def test_comfy_lora_key_map_and_load_lora_give_the_patches_load_lora_for_models_adds(comfy_registry):
    import comfy.lora
    import comfy.sd
    import core.paths
    import torch

    model, clip, _vae, _ = comfy.sd.load_checkpoint_guess_config(
        core.paths.get().get_full_path_or_raise("checkpoints", CKPT))
    w = model.get_model_object("diffusion_model.out.2.weight")
    lora = {"lora_unet_out_2.lora_up.weight": torch.ones(w.shape[0], 1, 1, 1),
            "lora_unet_out_2.lora_down.weight": torch.full((1, w.shape[1], 3, 3), 0.01)}
    key_map = comfy.lora.model_lora_keys_unet(model.model, {})
    assert key_map["lora_unet_out_2"] == "diffusion_model.out.2.weight"
    by_hand = model.clone()
    assert by_hand.add_patches(comfy.lora.load_lora(lora, key_map), 0.5) == ["diffusion_model.out.2.weight"]
    by_loader, _ = comfy.sd.load_lora_for_models(model, clip, lora, 0.5, 0.0)
    key = "model.diffusion_model.out.2.weight"
    assert torch.allclose(by_hand.patches[key][0].delta(w), by_loader.patches[key][0].delta(w))
