"""Stand-in pack: one node that runs a whole txt2img by calling built-ins by ComfyUI's method names
(positional arguments in ComfyUI's order), as 'all-in-one' loader/sampler packs do."""
from nodes import (CheckpointLoaderSimple, CLIPSetLastLayer, CLIPTextEncode, EmptyLatentImage, LoraLoader,
                   SaveImage, VAEDecode, VAEEncode, common_ksampler)


class OneNodeTxt2Img:
    @classmethod
    def INPUT_TYPES(cls):
        import folder_paths

        return {"required": {"ckpt_name": (folder_paths.get_filename_list("checkpoints"),),
                             "lora_name": (folder_paths.get_filename_list("loras"),),
                             "lora_strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 2.0}),
                             "text": ("STRING", {"default": "a cat", "multiline": True}),
                             "seed": ("INT", {"default": 0, "min": 0, "max": 2**32})},
                "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    RETURN_TYPES = ("IMAGE", "LATENT")
    FUNCTION = "run"
    OUTPUT_NODE = True
    CATEGORY = "stand-in/calls"

    def run(self, ckpt_name, lora_name, lora_strength, text, seed, prompt=None, extra_pnginfo=None):
        model, clip, vae = CheckpointLoaderSimple().load_checkpoint(ckpt_name)
        model, clip = LoraLoader().load_lora(model, clip, lora_name, lora_strength, lora_strength)
        (clip,) = CLIPSetLastLayer().set_last_layer(clip, -1)
        (positive,) = CLIPTextEncode().encode(clip, text)
        (negative,) = CLIPTextEncode().encode(clip, "")
        (latent,) = EmptyLatentImage().generate(64, 64, 1)
        (latent,) = common_ksampler(model, seed, 2, 7.0, "euler", "normal", positive, negative, latent)
        (image,) = VAEDecode().decode(vae, latent)
        (again,) = VAEEncode().encode(vae, image)  # round trip, as hires-fix style nodes do
        saved = SaveImage().save_images(image, "standin_calls", prompt, extra_pnginfo)
        return {"ui": saved["ui"], "result": (image, again)}


NODE_CLASS_MAPPINGS = {"SC_OneNodeTxt2Img": OneNodeTxt2Img}
