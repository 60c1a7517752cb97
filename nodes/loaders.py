"""Model loaders: whole checkpoints, standalone U-Net and VAE files (docs/comfy-api.md §6).

The work lives in core.models.checkpoint; torch loads only when a node runs. Loaders cache
nothing: the executor caches node outputs.
"""
from __future__ import annotations

import logging

from core import paths
from core.execution.spec import Combo, Node, Output

log = logging.getLogger(__name__)

UNET_WEIGHT_DTYPES = ("default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2")


def _files(key: str):
    return lambda: paths.get().get_filename_list(key)


def _path(node: str, input_name: str, folder: str, name: str):
    try:
        return paths.get().get_full_path_or_raise(folder, name)
    except FileNotFoundError as e:
        raise ValueError(f"{node}, input '{input_name}': {e}") from e


def _explain(node: str, input_name: str, name: str, error: Exception) -> ValueError:
    return ValueError(f"{node}, input '{input_name}': cannot load {name!r}: {error}")


class CheckpointLoaderSimple(Node):
    CATEGORY = "loaders"
    COMFY_FUNCTION = "load_checkpoint"
    DISPLAY_NAME = "Load Checkpoint"
    DESCRIPTION = "Loads a single-file Stable Diffusion checkpoint (SD1.x, SD2.x, SDXL): U-Net, text encoder, VAE."
    INPUTS = (Combo(name="ckpt_name", choices=_files("checkpoints"), tooltip="The checkpoint (model) to load."),)
    OUTPUTS = (Output("MODEL"), Output("CLIP"), Output("VAE"))

    def execute(self, ckpt_name):
        from core.models.checkpoint import load_checkpoint

        path = _path("CheckpointLoaderSimple", "ckpt_name", "checkpoints", ckpt_name)
        try:
            model, clip, vae = load_checkpoint(path)
        except (ValueError, OSError, KeyError) as e:
            raise _explain("CheckpointLoaderSimple", "ckpt_name", ckpt_name, e) from e
        return (model, clip, vae)


class unCLIPCheckpointLoader(Node):  # noqa: N801 - ComfyUI's class name
    CATEGORY = "loaders"
    COMFY_FUNCTION = "load_checkpoint"
    DESCRIPTION = ("Loads an SD2 unCLIP checkpoint (sd21-unclip-h / -l): U-Net, text encoder, VAE and the CLIP "
                   "image encoder whose embeddings unCLIPConditioning feeds it.")
    INPUTS = (Combo(name="ckpt_name", choices=_files("checkpoints")),)
    OUTPUTS = (Output("MODEL"), Output("CLIP"), Output("VAE"), Output("CLIP_VISION"))

    def execute(self, ckpt_name, output_vae=True, output_clip=True):
        from core.models.checkpoint import load_unclip_checkpoint

        path = _path("unCLIPCheckpointLoader", "ckpt_name", "checkpoints", ckpt_name)
        try:
            return load_unclip_checkpoint(path)
        except (ValueError, OSError, KeyError) as e:
            raise _explain("unCLIPCheckpointLoader", "ckpt_name", ckpt_name, e) from e


class UNETLoader(Node):
    CATEGORY = "advanced/loaders"
    COMFY_FUNCTION = "load_unet"
    DISPLAY_NAME = "Load Diffusion Model"
    INPUTS = (
        Combo(name="unet_name", choices=_files("diffusion_models")),
        Combo(name="weight_dtype", choices=UNET_WEIGHT_DTYPES,
              tooltip="default: the file's precision. fp8_*: Linear/Conv weights stored in 8 bits (half of "
                      "bf16's memory), computed in the usual precision layer by layer; fp8_e4m3fn_fast also "
                      "multiplies in fp8 on GPUs that support it (compute capability 8.9+)."),
    )
    OUTPUTS = (Output("MODEL"),)

    def execute(self, unet_name, weight_dtype="default"):
        from core.models.checkpoint import load_unet

        path = _path("UNETLoader", "unet_name", "diffusion_models", unet_name)
        try:
            return (load_unet(path, weight_dtype=weight_dtype),)
        except (ValueError, OSError, KeyError) as e:
            raise _explain("UNETLoader", "unet_name", unet_name, e) from e


class VAELoader(Node):
    CATEGORY = "loaders"
    COMFY_FUNCTION = "load_vae"
    DISPLAY_NAME = "Load VAE"
    INPUTS = (Combo(name="vae_name", choices=_files("vae")),)
    OUTPUTS = (Output("VAE"),)

    def execute(self, vae_name):
        from core.models.checkpoint import load_vae

        path = _path("VAELoader", "vae_name", "vae", vae_name)
        try:
            return (load_vae(path),)
        except (ValueError, OSError, KeyError) as e:
            raise _explain("VAELoader", "vae_name", vae_name, e) from e


NODES = [CheckpointLoaderSimple, unCLIPCheckpointLoader, UNETLoader, VAELoader]
