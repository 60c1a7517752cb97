"""ComfyUI's ``comfy.model_base``: ``ModelType`` and the model classes packs compare against.

Our MODEL's ``.model`` is a view of ComfyUI's BaseModel attributes (core/models/comfy_methods.py).
``isinstance(model.model, comfy.model_base.SDXL)`` and friends answer from the model's family;
the classes of families we do not run (Flux, SD3, video models ...) are never matched.
"""
from __future__ import annotations

from core.compat.missing import module_getattr
from core.models.comfy_methods import BaseModelView, ModelType  # noqa: F401


class _FamilyMeta(type):
    def __instancecheck__(cls, obj):
        if not isinstance(obj, BaseModelView):
            return type.__instancecheck__(cls, obj)
        family = obj.model_config.family
        return cls.families is None or family in cls.families


class BaseModel(metaclass=_FamilyMeta):
    families = None  # every model


class SD21UNCLIP(BaseModel):
    families = ()


class SDXL(BaseModel):
    families = ("sdxl",)


class SDXLRefiner(BaseModel):
    families = ("sdxl_refiner",)


class _Never(BaseModel):
    families = ()


def model_sampling(model_config, model_type):
    raise NotImplementedError("comfy.model_base.model_sampling: use model.get_model_object('model_sampling')")


_FAMILIES_WE_DO_NOT_RUN = ("SD3", "Flux", "FluxSchnell", "AuraFlow", "HunyuanDiT", "PixArt", "StableCascade_C",
                           "StableCascade_B", "SVD_img2vid", "SV3D_u", "SV3D_p", "StableAudio1", "GenmoMochi",
                           "LTXV", "HunyuanVideo", "CosmosVideo", "Lumina2", "WAN21", "WAN21_Vace", "HiDream",
                           "Chroma", "ACEStep", "Omnigen2", "QwenImage", "SDXL_instructpix2pix", "SD_X4Upscaler",
                           "StableZero123", "IP2P", "Hunyuan3Dv2", "CosmosPredict2")
for _name in _FAMILIES_WE_DO_NOT_RUN:
    globals()[_name] = type(_name, (_Never,), {})

__getattr__ = module_getattr(__name__)
