"""Stand-in pack: imports built-in classes from the comfy_extras modules where ComfyUI keeps them (also one
Latentflow lacks), and calls them classic-style and V3-style, as UltimateSDUpscale or KJNodes do."""
import comfy_extras.nodes_align_your_steps  # noqa: F401  (a module import alone must work)
from comfy_extras.nodes_custom_sampler import BasicScheduler, KSamplerSelect, SamplerCustom
from comfy_extras.nodes_latent import LatentBatch
from comfy_extras.nodes_mask import CropMask  # not provided by Latentflow: importing it still works
from comfy_extras.nodes_upscale_model import ImageUpscaleWithModel

# the check UltimateSDUpscale makes to choose between the two calling conventions
UPSCALE_IS_V3 = "execute" in dir(ImageUpscaleWithModel)


class CustomSampleTwice:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "positive": ("CONDITIONING",), "negative": ("CONDITIONING",),
                             "latent": ("LATENT",), "seed": ("INT", {"default": 0, "min": 0, "max": 2**32})}}

    RETURN_TYPES = ("LATENT",)
    FUNCTION = "run"
    CATEGORY = "stand-in/extras"

    def run(self, model, positive, negative, latent, seed):
        (sampler,) = KSamplerSelect().get_sampler("euler")
        (sigmas,) = BasicScheduler().get_sigmas(model, "normal", 2, 1.0)
        out, _denoised = SamplerCustom().sample(model, True, seed, 7.0, positive, negative, sampler, sigmas, latent)
        batch = LatentBatch.execute(out, out)  # ComfyUI's V3 node: a classmethod returning io.NodeOutput
        return (batch[0],)


class CropMaskUser:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"mask": ("MASK",)}}

    RETURN_TYPES = ("MASK",)
    FUNCTION = "run"
    OUTPUT_NODE = True
    CATEGORY = "stand-in/extras"

    def run(self, mask):
        return CropMask().crop(mask, 0, 0, 8, 8)


NODE_CLASS_MAPPINGS = {"EX_CustomSampleTwice": CustomSampleTwice, "EX_CropMaskUser": CropMaskUser}
