"""Every module of the reference LoRA manifests maps to the LDM weight the manifest names."""
import pytest
import torch

from core.models.lora import key_map, lora_patches
from core.models.unet import UNetConfig, UNetModel


@pytest.fixture(scope="module")
def sd15_keys(manifest):
    """Checkpoint keys of a meta-device full-size SD1.5 U-Net plus the manifest's text encoder keys."""
    with torch.device("meta"):
        unet = UNetModel(UNetConfig())
    keys = {"model.diffusion_model." + k: tuple(v.shape) for k, v in unet.state_dict().items()}
    ref = manifest("sd15.json")["keys"]
    assert set(keys) == {k for k in ref if k.startswith("model.diffusion_model.")}
    keys.update({k: tuple(v) for k, v in ref.items() if k.startswith("cond_stage_model.")})
    return keys


@pytest.mark.parametrize("name", ["lora_sd15_kohya_rank4.json", "lora_sd15_diffusers_peft_rank4.json"])
def test_every_manifest_module_maps_to_its_target(manifest, sd15_keys, name):
    ref = manifest(name)
    targets = {**ref["targets"], **ref.get("optional_targets", {})}
    kmap = key_map(sd15_keys)
    wrong = {m: kmap.get(m) for m, t in targets.items() if kmap.get(m) != (t, None)}
    assert wrong == {}


def test_full_size_kohya_file_maps_every_key(manifest, sd15_keys):
    ref = manifest("lora_sd15_kohya_rank4.json")
    shapes = {**ref["keys"], **ref["optional_keys"]}
    sd = {k: torch.empty(v if v else (), device="meta") for k, v in shapes.items() if not k.endswith(".alpha")}
    sd.update({k: torch.tensor(4.0) for k in shapes if k.endswith(".alpha")})
    patches, unmatched = lora_patches(sd, key_map(sd15_keys), 1.0)
    assert unmatched == []
    assert set(patches) == set(ref["targets"].values()) | set(ref["optional_targets"].values())


@pytest.mark.parametrize("variant", ["peft", "diffusers", "diffusers_te", "attn_procs"])
def test_peft_key_variants_map_like_the_canonical_names(manifest, sd15_keys, variant):
    ref = manifest("lora_sd15_diffusers_peft_rank4.json")
    kmap = key_map(sd15_keys)
    sd = {}
    for module in ref["targets"]:
        down, up = torch.zeros(4, 8), torch.zeros(8, 4)
        if variant == "peft":
            sd[module + ".lora_A.weight"], sd[module + ".lora_B.weight"] = down, up
        elif variant == "diffusers" or (variant == "diffusers_te" and module.startswith("unet.")):
            sd[module + ".lora.down.weight"], sd[module + ".lora.up.weight"] = down, up
        elif variant == "diffusers_te":
            sd[module + ".lora_linear_layer.down.weight"], sd[module + ".lora_linear_layer.up.weight"] = down, up
        elif module.startswith("unet."):  # attn_procs: unet module only, processor naming
            path, proj = module[len("unet."):].rsplit(".", 1) if not module.endswith("to_out.0") \
                else (module[len("unet."):-len(".to_out.0")], "to_out")
            sd[f"{path}.processor.{proj}_lora.down.weight"], sd[f"{path}.processor.{proj}_lora.up.weight"] = down, up
    patches, unmatched = lora_patches(sd, kmap, 1.0)
    assert unmatched == []
    expected = {t for m, t in ref["targets"].items() if variant != "attn_procs" or m.startswith("unet.")}
    assert set(patches) == expected


def test_ldm_flattened_kohya_names_are_accepted(sd15_keys):
    kmap = key_map(sd15_keys)
    assert kmap["lora_unet_input_blocks_1_1_proj_in"] == ("model.diffusion_model.input_blocks.1.1.proj_in.weight", None)


def test_sdxl_text_encoders_use_te1_and_te2_and_openclip_slices(manifest):
    keys = manifest("sdxl_base_1.0.json")["keys"]
    kmap = key_map(keys)
    assert kmap["lora_te1_text_model_encoder_layers_3_mlp_fc1"] == (
        "conditioner.embedders.0.transformer.text_model.encoder.layers.3.mlp.fc1.weight", None)
    fused = "conditioner.embedders.1.model.transformer.resblocks.5.attn.in_proj_weight"
    assert [kmap[f"lora_te2_text_model_encoder_layers_5_self_attn_{p}_proj"] for p in "qkv"] == [
        (fused, 0), (fused, 1), (fused, 2)]
    assert kmap["text_encoder_2.text_model.encoder.layers.5.mlp.fc2"] == (
        "conditioner.embedders.1.model.transformer.resblocks.5.mlp.c_proj.weight", None)
    assert kmap["lora_unet_up_blocks_0_attentions_2_transformer_blocks_9_ff_net_2"] == (
        "model.diffusion_model.output_blocks.2.1.transformer_blocks.9.ff.net.2.weight", None)
    assert kmap["lora_unet_down_blocks_1_downsamplers_0_conv"] == ("model.diffusion_model.input_blocks.6.0.op.weight", None)


def test_q_lora_on_fused_openclip_weight_patches_only_the_q_rows():
    keys = ["cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight"]
    down, up = torch.randn(2, 8), torch.randn(8, 2)
    sd = {"lora_te_text_model_encoder_layers_0_self_attn_k_proj.lora_down.weight": down,
          "lora_te_text_model_encoder_layers_0_self_attn_k_proj.lora_up.weight": up}
    patches, unmatched = lora_patches(sd, key_map(keys), 0.5, {keys[0]: (24, 8)})
    delta = patches[keys[0]][0].delta(torch.zeros(24, 8))
    assert unmatched == []
    assert torch.all(delta[:8] == 0) and torch.all(delta[16:] == 0)
    assert torch.allclose(delta[8:16], 0.5 * up @ down)
