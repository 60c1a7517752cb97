"""Stand-in pack: subclasses ComfyUI built-ins from ``nodes`` and reads their class attributes at import,
as packs such as efficiency-nodes and ComfyUI_essentials do."""
import folder_paths
import nodes

# read at import time: both must already work while the pack is being imported
UPSCALE_CHOICES = list(nodes.ImageScale.upscale_methods)
SAMPLER_CHOICES = nodes.KSampler.INPUT_TYPES()["required"]["sampler_name"][0]
MAX_SIZE = nodes.MAX_RESOLUTION


class LoraLoaderWithTrigger(nodes.LoraLoader):
    """ComfyUI's LoraLoader inputs plus a trigger word; the LoRA work is the parent's load_lora."""

    @classmethod
    def INPUT_TYPES(cls):
        types = super().INPUT_TYPES()
        types["required"]["trigger"] = ("STRING", {"default": "style"})
        return types

    RETURN_TYPES = ("MODEL", "CLIP", "STRING")
    FUNCTION = "load_with_trigger"
    CATEGORY = "stand-in/subclass"

    def load_with_trigger(self, model, clip, lora_name, strength_model, strength_clip, trigger):
        model, clip = self.load_lora(model, clip, lora_name, strength_model, strength_clip)
        return (model, clip, trigger)


class FixedSchedulerKSampler(nodes.KSampler):
    """KSampler without the scheduler widget: overrides ``sample`` and calls the parent's."""

    @classmethod
    def INPUT_TYPES(cls):
        types = super().INPUT_TYPES()
        del types["required"]["scheduler"]
        return types

    CATEGORY = "stand-in/subclass"

    def sample(self, model, seed, steps, cfg, sampler_name, positive, negative, latent_image, denoise=1.0):
        return super().sample(model, seed, steps, cfg, sampler_name, "karras", positive, negative, latent_image,
                              denoise=denoise)


class SaveToTemp(nodes.SaveImage):
    """The usual 'preview' subclass: ComfyUI's SaveImage writing to the temp folder with its own suffix."""

    def __init__(self):
        self.output_dir = folder_paths.get_temp_directory()
        self.type = "temp"
        self.prefix_append = "_standin"
        self.compress_level = 1

    CATEGORY = "stand-in/subclass"


class ScaleWithChoices:
    """A plain node whose combo is the built-in's class attribute, and which calls ImageScale.upscale."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",), "method": (UPSCALE_CHOICES,),
                             "size": ("INT", {"default": 32, "min": 8, "max": MAX_SIZE})}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "scale"
    CATEGORY = "stand-in/subclass"

    def scale(self, image, method, size):
        return nodes.ImageScale().upscale(image, method, size, size, "disabled")


NODE_CLASS_MAPPINGS = {
    "SI_LoraLoaderWithTrigger": LoraLoaderWithTrigger,
    "SI_FixedSchedulerKSampler": FixedSchedulerKSampler,
    "SI_SaveToTemp": SaveToTemp,
    "SI_ScaleWithChoices": ScaleWithChoices,
}
NODE_DISPLAY_NAME_MAPPINGS = {"SI_LoraLoaderWithTrigger": "LoRA Loader (with trigger)"}
