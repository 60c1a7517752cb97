"""FLUX.1 / SD3.5 text nodes: ComfyUI's inputs and widget values, loaders reading the text_encoders folder,
CLIPTextEncodeFlux / CLIPTextEncodeSD3 / CLIPTextEncode outputs."""
import pytest
import torch

from nodes.dit_text import CLIPTextEncodeFlux, CLIPTextEncodeSD3
from nodes.text import CLIPLoader, CLIPTextEncode, DualCLIPLoader, TripleCLIPLoader

L, G, T5 = "clip_l.safetensors", "clip_g.safetensors", "t5xxl_fp16.safetensors"
T5_FP8 = "t5xxl_fp8_e4m3fn_scaled.safetensors"

# ComfyUI's nodes.py (snapshot 2025-10-12): the type lists in order; CLIPLoader's plus "flux2" (FLUX.2 templates)
COMFY_CLIP_LOADER_TYPES = ["stable_diffusion", "stable_cascade", "sd3", "stable_audio", "mochi", "ltxv", "pixart",
                           "cosmos", "lumina2", "wan", "hidream", "chroma", "ace", "omnigen2", "qwen_image",
                           "hunyuan_image"]
COMFY_DUAL_TYPES = ["sdxl", "sd3", "flux", "hunyuan_video", "hidream", "hunyuan_image"]


@pytest.fixture()
def cpu_fp32():
    from core import devices

    devices.configure({"cpu": True, "force_fp32": True})
    yield devices
    devices.configure(None)


@pytest.fixture()
def flux(text_encoders_folder, cpu_fp32):
    return DualCLIPLoader().execute(L, T5, "flux")[0]


@pytest.fixture()
def sd3(text_encoders_folder, cpu_fp32):
    return TripleCLIPLoader().execute(G, T5, L)[0]


def widget(cls, name):
    spec = cls.INPUT_TYPES()
    return list({**spec["required"], **spec.get("optional", {})}[name][0])


def test_type_widgets_list_comfyuis_values_in_order():
    assert widget(CLIPLoader, "type") == COMFY_CLIP_LOADER_TYPES + ["flux2"]
    assert widget(DualCLIPLoader, "type") == COMFY_DUAL_TYPES


def test_triple_clip_loader_lists_the_text_encoders_folder(text_encoders_folder):
    for name in ("clip_name1", "clip_name2", "clip_name3"):
        assert set(widget(TripleCLIPLoader, name)) >= {L, G, T5, T5_FP8}


@pytest.mark.parametrize("name,towers", [(L, ["l"]), (G, ["g"]), (T5, ["t5xxl"])])
def test_clip_loader_sd3_loads_one_tower(text_encoders_folder, cpu_fp32, name, towers):
    (clip,) = CLIPLoader().execute(name, "sd3")
    assert clip.family == "sd3" and [e.role.name for e in clip.encoders] == towers


def test_dual_clip_loader_sd3_loads_two_towers(text_encoders_folder, cpu_fp32):
    (clip,) = DualCLIPLoader().execute(T5_FP8, G, "sd3")
    assert [e.role.name for e in clip.encoders] == ["g", "t5xxl"]


def test_dual_clip_loader_flux_accepts_either_order(text_encoders_folder, cpu_fp32):
    (a,) = DualCLIPLoader().execute(L, T5, "flux")
    (b,) = DualCLIPLoader().execute(T5, L, "flux")
    assert a.family == b.family == "flux"


@pytest.mark.parametrize("node,args,value", [
    (CLIPLoader, (T5, "mochi"), "mochi"),
    (CLIPLoader, (T5, "wan"), "wan"),
    (DualCLIPLoader, (L, T5, "hidream"), "hidream"),
])
def test_types_not_implemented_name_node_input_and_value(text_encoders_folder, node, args, value):
    with pytest.raises(ValueError, match=f"{node.__name__}, input 'type': '{value}' text encoders are not supported"):
        node().execute(*args)


def test_wrong_files_for_a_type_name_the_node_and_files(text_encoders_folder, cpu_fp32):
    with pytest.raises(ValueError, match="DualCLIPLoader, input 'type' 'flux' with clip_l.safetensors \\+ "
                                         "clip_g.safetensors: .*needs CLIP-L and T5-XXL"):
        DualCLIPLoader().execute(L, G, "flux")


def test_a_missing_file_names_the_input(text_encoders_folder):
    with pytest.raises(FileNotFoundError, match="TripleCLIPLoader, input 'clip_name3'"):
        TripleCLIPLoader().execute(L, G, "missing.safetensors")


def test_clip_text_encode_flux_puts_each_text_in_its_encoder_and_the_guidance(flux):
    (cond,) = CLIPTextEncodeFlux().execute(flux, "a red fox", "a cat on a mat", 4.5)
    [[states, extra]] = cond
    assert extra["guidance"] == 4.5
    tokens = flux.tokenize("a red fox")
    tokens["t5xxl"] = flux.tokenize("a cat on a mat")["t5xxl"]
    expected, pooled = flux.encode_from_tokens(tokens, return_pooled=True)
    assert torch.equal(states, expected) and torch.equal(extra["pooled_output"], pooled)
    [[t5_only_change, extra2]] = CLIPTextEncodeFlux().execute(flux, "a red fox", "a dog", 4.5)[0]
    assert not torch.equal(t5_only_change, states) and torch.equal(extra2["pooled_output"], pooled)


def test_clip_text_encode_on_a_flux_clip_gives_t5_states_and_l_pooled(flux):
    [[states, extra]] = CLIPTextEncode().execute(flux, "a cat")[0]
    assert states.shape == (1, 256, 96) and extra["pooled_output"].shape == (1, 32)


def test_clip_text_encode_on_an_sd3_clip(sd3):
    [[states, extra]] = CLIPTextEncode().execute(sd3, "a cat")[0]
    assert states.shape == (1, 77 + 77, 96) and extra["pooled_output"].shape == (1, 32 + 48)


def test_clip_text_encode_sd3_uses_each_text_for_its_encoder(sd3):
    [[states, extra]] = CLIPTextEncodeSD3().execute(sd3, "a cat", "a dog", "a bird", "none")[0]
    tokens = sd3.tokenize("a dog")
    tokens["l"] = sd3.tokenize("a cat")["l"]
    tokens["t5xxl"] = sd3.tokenize("a bird")["t5xxl"]
    expected, pooled = sd3.encode_from_tokens(tokens, return_pooled=True)
    assert torch.equal(states, expected) and torch.equal(extra["pooled_output"], pooled)


def test_sd3_empty_texts_without_padding_drop_their_encoders(sd3):
    [[states, extra]] = CLIPTextEncodeSD3().execute(sd3, "", "", "a bird", "none")[0]
    (t5_tokens,) = sd3.tokenize("a bird")["t5xxl"]
    assert states.shape == (1, len(t5_tokens), 96)
    assert extra["pooled_output"].abs().max() == 0  # no CLIP tokens: the pooled vector is zeros


def test_sd3_empty_texts_with_empty_prompt_padding_keep_every_encoder(sd3):
    [[states, extra]] = CLIPTextEncodeSD3().execute(sd3, "", "", "", "empty_prompt")[0]
    assert states.shape == (1, 77 + 77, 96) and extra["pooled_output"].abs().max() > 0


def test_sd3_shorter_clip_text_gets_empty_chunks(sd3):
    long_g = " ".join(["dog"] * 100)  # two chunks for G, one for L: L is extended with the empty prompt
    [[states, _]] = CLIPTextEncodeSD3().execute(sd3, "a cat", long_g, "a bird", "none")[0]
    assert states.shape[1] == 2 * 77 + 77


def test_encode_nodes_refuse_a_clip_of_another_family(text_encoders_folder, cpu_fp32, flux):
    with pytest.raises(ValueError, match="CLIPTextEncodeSD3, input 'clip': .*no g tokens"):
        CLIPTextEncodeSD3().execute(flux, "a", "b", "c", "none")
