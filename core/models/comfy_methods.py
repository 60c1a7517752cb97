"""ComfyUI's method names on our MODEL, CLIP and VAE values (docs/custom_nodes.md).

Custom node packs receive our handles from the built-in loaders and call ComfyUI's methods on them
(``model.clone()``, ``model.get_model_object("model_sampling")``, ``vae.spacial_compression_encode()``,
``clip.cond_stage_model``). These mixins give the handles those names as thin views onto what they
already hold; no second copy of any state. What our engine cannot honour (patches inside
transformer blocks, U-Net input/output block patches) raises where the pack asks for it, naming it,
instead of being stored and silently ignored.
"""
from __future__ import annotations

import enum
import math

import torch

COMFY_PREFIX = "diffusion_model."  # ComfyUI's BaseModel state-dict names of the same weights


class ModelType(enum.Enum):
    """``comfy.model_base.ModelType`` values (their ``.value`` as in ComfyUI)."""

    EPS = 1
    V_PREDICTION = 2
    V_PREDICTION_EDM = 3
    STABLE_CASCADE = 4
    EDM = 5
    FLOW = 6
    V_PREDICTION_CONTINUOUS = 7
    FLUX = 8
    IMG_TO_IMG = 9


class ModelSampling:
    """``model.model_sampling``: sigma/timestep maps and the eps/v parametrisation (core.sampling.schedule)."""

    def __init__(self, schedule, prediction: str):
        self.schedule = schedule
        self.prediction = prediction
        self.sigmas = schedule.sigmas
        self.log_sigmas = schedule.log_sigmas
        self.alphas_cumprod = schedule.alphas_cumprod
        self.sigma_data = 1.0

    @property
    def sigma_min(self) -> torch.Tensor:
        return self.sigmas[0]

    @property
    def sigma_max(self) -> torch.Tensor:
        return self.sigmas[-1]

    def timestep(self, sigma):
        return self.schedule.timestep(sigma).to(torch.as_tensor(sigma).device)

    def sigma(self, timestep):
        return self.schedule.sigma(torch.as_tensor(timestep).cpu()).to(torch.as_tensor(timestep).device)

    def percent_to_sigma(self, percent: float) -> float:
        return self.schedule.percent_to_sigma(percent)

    def calculate_input(self, sigma, noise):
        s = sigma.reshape(sigma.shape[:1] + (1,) * (noise.ndim - 1))
        return noise / (s * s + self.sigma_data ** 2) ** 0.5

    def calculate_denoised(self, sigma, model_output, model_input):
        s = sigma.reshape(sigma.shape[:1] + (1,) * (model_output.ndim - 1))
        if self.prediction == "v":  # Salimans & Ho 2022, eq. 6 in the VE parametrisation (core/sampling/denoiser.py)
            return model_input / (s * s + 1) - model_output * s / (s * s + 1) ** 0.5
        return model_input - model_output * s

    def noise_scaling(self, sigma, noise, latent_image, max_denoise: bool = False):
        scale = torch.sqrt(1.0 + sigma ** 2.0) if max_denoise else sigma
        return latent_image + noise * scale.reshape(scale.shape[:1] + (1,) * (noise.ndim - 1))

    def inverse_noise_scaling(self, sigma, latent):
        return latent


class ModelConfig:
    """``model.model_config``: what packs read of a model's configuration."""

    def __init__(self, handle):
        cfg = handle.config
        unet = getattr(cfg, "unet", None)
        self.unet_config = dict(vars(unet)) if unet is not None and hasattr(unet, "__dict__") else {}
        self.unet_config.setdefault("in_channels", getattr(cfg, "in_channels", 4))
        self.latent_format = handle.latent_format
        self.family = cfg.family
        self.sampling_settings = {}
        self.manual_cast_dtype = None
        self.memory_usage_factor = 2.0


class BaseModelView:
    """``ModelPatcher.model``: ComfyUI's BaseModel attributes over our handle (no copy of anything)."""

    def __init__(self, handle):
        self._handle = handle

    @property
    def diffusion_model(self):
        return self._handle.unet

    @property
    def model_sampling(self):
        return self._handle.get_model_object("model_sampling")

    @property
    def latent_format(self):
        return self._handle.latent_format

    @property
    def model_config(self) -> ModelConfig:
        return ModelConfig(self._handle)

    @property
    def model_type(self) -> ModelType:
        return ModelType.V_PREDICTION if self._handle.prediction == "v" else ModelType.EPS

    @property
    def adm_channels(self) -> int:
        return getattr(self._handle.config, "adm_in_channels", None) or 0

    @property
    def device(self):
        return next(self._handle.unet.parameters()).device

    def get_dtype(self):
        return self._handle.dtype

    def memory_required(self, input_shape) -> int:
        area = input_shape[0] * math.prod(input_shape[2:])
        return int(area * 2 * 1024 * 8)  # rough: activations per latent pixel, as a budget hint only

    def state_dict(self):
        return self._handle.model_state_dict()

    def __getattr__(self, attr):
        from core.compat.missing import UnsupportedComfyAPI, message

        if attr.startswith("__"):
            raise AttributeError(attr)
        raise UnsupportedComfyAPI(message(f"comfy.model_base.BaseModel.{attr}",
                                          "Latentflow's model wrapper exposes diffusion_model, model_sampling, "
                                          "latent_format, model_config, model_type, get_dtype, memory_required"))


_UNHONOURED = ("Latentflow's U-Net does not run per-block patches; the node that asked for it cannot work here")


class ModelPatcherMethods:
    """ComfyUI's ``ModelPatcher`` API on ModelHandle (which already has clone, add_patches, model_options)."""

    @property
    def model(self) -> BaseModelView:
        return BaseModelView(self)

    @property
    def object_patches(self) -> dict:
        return self.__dict__.setdefault("_object_patches", {})

    @property
    def load_device(self):
        from core import devices

        return self.device or devices.get_torch_device()

    @property
    def offload_device(self):
        from core import devices

        return devices.offload_device()

    @property
    def parent(self):
        return None

    @property
    def size(self) -> int:
        return sum(p.numel() * p.element_size() for p in self.unet.parameters())

    def model_size(self) -> int:
        return self.size

    def model_dtype(self):
        return self.dtype

    def is_clone(self, other) -> bool:
        return getattr(other, "unet", None) is self.unet

    def clone_has_same_weights(self, other) -> bool:
        return self.is_clone(other) and self.patches.keys() == getattr(other, "patches", {}).keys()

    def get_model_object(self, name: str):
        if name in self.object_patches:
            return self.object_patches[name]
        if name == "model_sampling":
            from core.sampling.sample import schedule_for

            return ModelSampling(schedule_for(self), self.prediction)
        if name == "diffusion_model":
            return self.unet
        if name == "latent_format":
            return self.latent_format
        obj = self.unet
        for part in name.split("."):
            if part == "diffusion_model":
                continue
            obj = getattr(obj, part)
        return obj

    def add_object_patch(self, name: str, obj) -> None:
        if name == "model_sampling" and not isinstance(obj, ModelSampling):
            from core.compat.missing import UnsupportedComfyAPI, message

            raise UnsupportedComfyAPI(message("ModelPatcher.add_object_patch('model_sampling', ...)",
                                              "Latentflow samples SD1/SD2/SDXL with their own discrete schedule; "
                                              "replacing the model sampling object is not supported"))
        patches = dict(self.object_patches)
        patches[name] = obj
        self.__dict__["_object_patches"] = patches

    def get_key_patches(self, filter_prefix: str | None = None) -> dict:
        sd = self.model_state_dict(filter_prefix)
        return {k: (v,) for k, v in sd.items()}

    def model_state_dict(self, filter_prefix: str | None = None) -> dict:
        """ComfyUI's names (``diffusion_model.*``); ``add_patches`` takes them back."""

        sd = {COMFY_PREFIX + k: v for k, v in self.unet.state_dict().items()}
        return {k: v for k, v in sd.items() if filter_prefix is None or k.startswith(filter_prefix)}

    # --- model_options hooks the sampler honours (core.sampling.guidance / denoiser) ---------------
    def set_model_sampler_cfg_function(self, sampler_cfg_function, disable_cfg1_optimization: bool = False):
        self.model_options["sampler_cfg_function"] = sampler_cfg_function
        if disable_cfg1_optimization:
            self.model_options["disable_cfg1_optimization"] = True

    def set_model_sampler_post_cfg_function(self, post_cfg_function, disable_cfg1_optimization: bool = False):
        self.model_options["sampler_post_cfg_function"] = list(
            self.model_options.get("sampler_post_cfg_function", [])) + [post_cfg_function]
        if disable_cfg1_optimization:
            self.model_options["disable_cfg1_optimization"] = True

    def set_model_sampler_pre_cfg_function(self, pre_cfg_function, disable_cfg1_optimization: bool = False):
        self.model_options["sampler_pre_cfg_function"] = list(
            self.model_options.get("sampler_pre_cfg_function", [])) + [pre_cfg_function]
        if disable_cfg1_optimization:
            self.model_options["disable_cfg1_optimization"] = True

    def set_model_unet_function_wrapper(self, unet_wrapper_function) -> None:
        self.model_options["model_function_wrapper"] = unet_wrapper_function

    def set_model_denoise_mask_function(self, denoise_mask_function) -> None:
        self.model_options["denoise_mask_function"] = denoise_mask_function

    def model_patches_to(self, device) -> None:
        """Move tensors held in model_options patches (ComfyUI calls it before sampling); nothing to do here."""

    # --- patches inside the U-Net's blocks: not run by our U-Net -> refuse loudly -------------------
    def _block_patch(self, what: str):
        from core.compat.missing import UnsupportedComfyAPI, message

        raise UnsupportedComfyAPI(message(f"ModelPatcher.{what}", _UNHONOURED))

    def set_model_patch(self, patch, name):
        self._block_patch(f"set_model_patch(..., {name!r})")

    def set_model_patch_replace(self, patch, name, block_name, number, transformer_index=None):
        self._block_patch(f"set_model_patch_replace(..., {name!r})")

    def set_model_attn1_patch(self, patch):
        self._block_patch("set_model_attn1_patch")

    def set_model_attn2_patch(self, patch):
        self._block_patch("set_model_attn2_patch")

    def set_model_attn1_replace(self, patch, block_name, number, transformer_index=None):
        self._block_patch("set_model_attn1_replace")

    def set_model_attn2_replace(self, patch, block_name, number, transformer_index=None):
        self._block_patch("set_model_attn2_replace")

    def set_model_attn1_output_patch(self, patch):
        self._block_patch("set_model_attn1_output_patch")

    def set_model_attn2_output_patch(self, patch):
        self._block_patch("set_model_attn2_output_patch")

    def set_model_input_block_patch(self, patch):
        self._block_patch("set_model_input_block_patch")

    def set_model_input_block_patch_after_skip(self, patch):
        self._block_patch("set_model_input_block_patch_after_skip")

    def set_model_output_block_patch(self, patch):
        self._block_patch("set_model_output_block_patch")

    def set_model_forward_timestep_embed_patch(self, patch):
        self._block_patch("set_model_forward_timestep_embed_patch")

    # --- loading (core.devices does this itself when sampling) ------------------------------------
    def patch_model(self, device_to=None, *args, **kwargs):
        """Weights on the device with this clone's patches merged, until :meth:`unpatch_model`."""
        from core import devices

        devices.manager._load(self, device_to or self.load_device)
        self.on_activate()
        return self.unet

    def unpatch_model(self, device_to=None, *args, **kwargs):
        from core import devices

        self.on_deactivate()
        devices.manager._offload(self)

    def loaded_size(self) -> int:
        return self.size


class ClipMethods:
    """ComfyUI's ``comfy.sd.CLIP`` names on ClipHandle (tokenize/encode_from_tokens/clone it has itself)."""

    @property
    def cond_stage_model(self):
        """The text encoder modules (ComfyUI's SD1ClipModel / SDXLClipModel role)."""
        modules = torch.nn.ModuleDict({enc.role.name: enc.model for enc in self.encoders})
        return modules

    @property
    def patcher(self):
        return self

    def load_model(self):
        """ComfyUI loads the encoder to its device here; ours moves on each encode, so return the patcher."""
        return self

    def get_sd(self) -> dict:
        return self.state_dict()

    def get_key_patches(self) -> dict:
        return {k: (v,) for k, v in self.state_dict().items()}


class VaeMethods:
    """ComfyUI's ``comfy.sd.VAE`` names on VaeHandle."""

    @property
    def first_stage_model(self):
        return self.vae

    @property
    def upscale_ratio(self) -> int:
        return self.downscale_ratio

    @property
    def output_channels(self) -> int:
        return 3

    def spacial_compression_encode(self) -> int:
        return self.downscale_ratio

    def spacial_compression_decode(self) -> int:
        return self.downscale_ratio

    def temporal_compression_decode(self):
        return None

    def vae_encode_crop_pixels(self, pixels):
        r = self.downscale_ratio
        h, w = pixels.shape[1] // r * r, pixels.shape[2] // r * r
        if h == pixels.shape[1] and w == pixels.shape[2]:
            return pixels
        y, x = (pixels.shape[1] % r) // 2, (pixels.shape[2] % r) // 2
        return pixels[:, y:y + h, x:x + w, :]

    def get_sd(self) -> dict:
        return self.vae.state_dict()

    def memory_used_encode(self, shape, dtype) -> int:
        return int(shape[1] * shape[2] * 128 * 4 * 6)

    def memory_used_decode(self, shape, dtype) -> int:
        return int(shape[2] * shape[3] * 64 * 128 * 4 * 6)
