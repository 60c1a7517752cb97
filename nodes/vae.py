"""VAE nodes: LATENT <-> IMAGE, whole or in tiles (docs/comfy-api.md §6). Work in core.models.handles.VaeHandle."""
from __future__ import annotations

from core.execution.spec import In, Int, Node, Output


def _require(node: str, vae):
    if vae is None:
        raise ValueError(f"{node}, input 'vae': no VAE (the checkpoint had none; load one with VAELoader)")
    return vae


def _samples(node: str, samples) -> object:
    if not isinstance(samples, dict) or "samples" not in samples:
        raise ValueError(f"{node}, input 'samples': expected a LATENT dict with 'samples', got {type(samples).__name__}")
    latent = samples["samples"]
    if latent.ndim != 4:
        raise ValueError(f"{node}, input 'samples': expected [B,C,H,W] latents, got shape {list(latent.shape)}")
    return latent


def _tile_inputs(tile_step: int):
    return (
        Int("tile_size", default=512, min=64, max=4096, step=tile_step),
        Int("overlap", default=64, min=0, max=4096, step=32),
        Int("temporal_size", default=64, min=8, max=4096, step=4,
            tooltip="Only used for video VAEs: Amount of frames to process at a time."),
        Int("temporal_overlap", default=8, min=4, max=4096, step=4,
            tooltip="Only used for video VAEs: Amount of frames to overlap."),
    )


class VAEDecode(Node):
    CATEGORY = "latent"
    COMFY_FUNCTION = "decode"
    DISPLAY_NAME = "VAE Decode"
    DESCRIPTION = "Decodes latent images back into pixel space images."
    INPUTS = (In("LATENT", "samples"), In("VAE", "vae"))
    OUTPUTS = (Output("IMAGE"),)

    def execute(self, vae, samples):
        return (_require("VAEDecode", vae).decode(_samples("VAEDecode", samples)),)


class VAEEncode(Node):
    CATEGORY = "latent"
    COMFY_FUNCTION = "encode"
    DISPLAY_NAME = "VAE Encode"
    INPUTS = (In("IMAGE", "pixels"), In("VAE", "vae"))
    OUTPUTS = (Output("LATENT"),)

    def execute(self, vae, pixels):
        return ({"samples": _require("VAEEncode", vae).encode(pixels)},)


class VAEDecodeTiled(Node):
    CATEGORY = "_for_testing"
    COMFY_FUNCTION = "decode"
    DISPLAY_NAME = "VAE Decode (Tiled)"
    INPUTS = (In("LATENT", "samples"), In("VAE", "vae")) + _tile_inputs(32)
    OUTPUTS = (Output("IMAGE"),)

    def execute(self, vae, samples, tile_size=512, overlap=64, temporal_size=64, temporal_overlap=8):
        if overlap > tile_size // 4:
            overlap = tile_size // 4  # wider overlaps only cost time; keep tiles mostly new pixels
        latent = _samples("VAEDecodeTiled", samples)
        return (_require("VAEDecodeTiled", vae).decode_tiled(latent, tile_size=tile_size, overlap=overlap),)


class VAEEncodeTiled(Node):
    CATEGORY = "_for_testing"
    COMFY_FUNCTION = "encode"
    DISPLAY_NAME = "VAE Encode (Tiled)"
    INPUTS = (In("IMAGE", "pixels"), In("VAE", "vae")) + _tile_inputs(64)
    OUTPUTS = (Output("LATENT"),)

    def execute(self, vae, pixels, tile_size=512, overlap=64, temporal_size=64, temporal_overlap=8):
        return ({"samples": _require("VAEEncodeTiled", vae).encode_tiled(pixels, tile_size=tile_size, overlap=overlap)},)


NODES = [VAEDecode, VAEEncode, VAEDecodeTiled, VAEEncodeTiled]
