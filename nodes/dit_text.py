"""Prompt nodes of FLUX.1 and SD3.5: one text per text encoder (ComfyUI's comfy_extras/nodes_flux.py and
nodes_sd3.py interfaces). The conditioning itself is built by the CLIP (core/models/dit_text.py)."""
from __future__ import annotations

from core.execution.spec import Combo, Float, In, Node, Output, String


def _prompt(name: str) -> String:
    return String(name=name, multiline=True, dynamic_prompts=True)


def _require(node: str, clip, needed: tuple, model: str):
    if clip is None:
        raise ValueError(f"{node}, input 'clip': no text encoder (load one with DualCLIPLoader / TripleCLIPLoader)")
    tokens = clip.tokenize("")
    missing = [k for k in needed if k not in tokens]
    if missing:
        family = getattr(clip, "family", "?")
        raise ValueError(f"{node}, input 'clip': this CLIP ({family}) has no {', '.join(missing)} tokens; "
                         f"connect the CLIP of an {model} model")
    return tokens


class CLIPTextEncodeFlux(Node):
    CATEGORY = "advanced/conditioning/flux"
    COMFY_FUNCTION = "execute"
    COMFY_V3 = True
    INPUTS = (In("CLIP", "clip"), _prompt("clip_l"), _prompt("t5xxl"),
              Float(name="guidance", default=3.5, min=0.0, max=100.0, step=0.1))
    OUTPUTS = (Output("CONDITIONING"),)

    def execute(self, clip, clip_l, t5xxl, guidance):
        _require("CLIPTextEncodeFlux", clip, ("l", "t5xxl"), "FLUX.1")
        tokens = clip.tokenize(clip_l)
        tokens["t5xxl"] = clip.tokenize(t5xxl)["t5xxl"]
        return (clip.encode_from_tokens_scheduled(tokens, add_dict={"guidance": guidance}),)


class CLIPTextEncodeSD3(Node):
    CATEGORY = "advanced/conditioning"
    COMFY_FUNCTION = "execute"
    COMFY_V3 = True
    INPUTS = (In("CLIP", "clip"), _prompt("clip_l"), _prompt("clip_g"), _prompt("t5xxl"),
              Combo(name="empty_padding", choices=("none", "empty_prompt")))
    OUTPUTS = (Output("CONDITIONING"),)

    def execute(self, clip, clip_l, clip_g, t5xxl, empty_padding):
        empty = _require("CLIPTextEncodeSD3", clip, ("l", "g", "t5xxl"), "SD3.5")
        no_padding = empty_padding == "none"
        # "none": an empty text contributes no tokens at all (its encoder is skipped), as in ComfyUI
        tokens = clip.tokenize(clip_g)
        if not clip_g and no_padding:
            tokens["g"] = []
        tokens["l"] = [] if (not clip_l and no_padding) else clip.tokenize(clip_l)["l"]
        tokens["t5xxl"] = [] if (not t5xxl and no_padding) else clip.tokenize(t5xxl)["t5xxl"]
        # L and G are concatenated channel-wise: the shorter one is extended with empty-prompt chunks
        while len(tokens["l"]) < len(tokens["g"]):
            tokens["l"] = tokens["l"] + empty["l"]
        while len(tokens["g"]) < len(tokens["l"]):
            tokens["g"] = tokens["g"] + empty["g"]
        return (clip.encode_from_tokens_scheduled(tokens),)


NODES = [CLIPTextEncodeFlux, CLIPTextEncodeSD3]
