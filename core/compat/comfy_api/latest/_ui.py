"""``comfy_api.latest.ui``: what a V3 node shows in the frontend (``NodeOutput(..., ui=ui.PreviewImage(img))``).

Images are written by core.workflow.png (the same writer SaveImage uses), with the prompt and
workflow of the running job embedded when the node asked for them (output nodes do).
"""
from __future__ import annotations

import random
import string

from ._io import FolderType, _UIOutput


class SavedResult(dict):
    """One saved file as the frontend addresses it: {filename, subfolder, type}."""

    def __init__(self, filename: str, subfolder: str, type: FolderType):
        super().__init__(filename=filename, subfolder=subfolder, type=FolderType(type).value)

    @property
    def filename(self) -> str:
        return self["filename"]

    @property
    def subfolder(self) -> str:
        return self["subfolder"]

    @property
    def type(self) -> FolderType:
        return FolderType(self["type"])


class SavedImages(_UIOutput):
    def __init__(self, results: list, is_animated: bool = False):
        self.results, self.is_animated = list(results), is_animated

    def as_dict(self) -> dict:
        data = {"images": self.results}
        if self.is_animated:
            data["animated"] = (True,)
        return data


class SavedAudios(_UIOutput):
    def __init__(self, results: list):
        self.results = list(results)

    def as_dict(self) -> dict:
        return {"audio": self.results}


def _folder(folder_type: FolderType):
    from core import paths

    folders = paths.get()
    return {FolderType.output: folders.output_dir, FolderType.temp: folders.temp_dir,
            FolderType.input: folders.input_dir}[FolderType(folder_type)]


class ImageSaveHelper:
    """Saving IMAGE batches for V3 nodes (ComfyUI's helper names and signatures)."""

    @staticmethod
    def save_images(images, filename_prefix: str, folder_type: FolderType, cls=None, compress_level=4) -> list:
        from core.workflow import png

        hidden = getattr(cls, "hidden", None)
        prompt = getattr(hidden, "prompt", None)
        extra = getattr(hidden, "extra_pnginfo", None)
        kind = FolderType(folder_type)
        saved = png.save_images(images, filename_prefix, _folder(kind), kind.value, prompt, extra,
                                compress_level=compress_level)
        return [SavedResult(r["filename"], r["subfolder"], kind) for r in saved]

    @staticmethod
    def get_save_images_ui(images, filename_prefix: str, cls=None, compress_level=4) -> SavedImages:
        return SavedImages(ImageSaveHelper.save_images(images, filename_prefix, FolderType.output, cls,
                                                       compress_level))


def _temp_prefix() -> str:
    return "ComfyUI_temp_" + "".join(random.choice(string.ascii_lowercase) for _ in range(5))


class PreviewImage(_UIOutput):
    """Show an IMAGE batch: written to the temp folder, shown on the node."""

    def __init__(self, image, animated: bool = False, cls=None, **kwargs):
        self.values = ImageSaveHelper.save_images(image, _temp_prefix(), FolderType.temp, cls, compress_level=1)
        self.animated = animated

    def as_dict(self) -> dict:
        return {"images": self.values, "animated": (self.animated,)}


class PreviewMask(PreviewImage):
    """Show a MASK [B,H,W] as grey images."""

    def __init__(self, mask, animated: bool = False, cls=None, **kwargs):
        grey = mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])).movedim(1, -1).expand(-1, -1, -1, 3)
        super().__init__(grey, animated, cls, **kwargs)


class PreviewText(_UIOutput):
    def __init__(self, value: str, **kwargs):
        self.value = value

    def as_dict(self) -> dict:
        return {"text": (self.value,)}


class PreviewVideo(_UIOutput):
    def __init__(self, values: list, **kwargs):
        self.values = list(values)

    def as_dict(self) -> dict:
        return {"images": self.values, "animated": (True,)}


class PreviewUI3D(_UIOutput):
    def __init__(self, model_file, camera_info, **kwargs):
        self.model_file, self.camera_info = model_file, camera_info

    def as_dict(self) -> dict:
        return {"result": [self.model_file, self.camera_info]}


class PreviewAudio(_UIOutput):
    """Audio preview needs an audio encoder Latentflow does not have: refused when a node uses it."""

    def __init__(self, audio, cls=None, **kwargs):
        raise NotImplementedError("comfy_api.latest.ui.PreviewAudio: audio output is not supported by Latentflow")


class AudioSaveHelper:
    @staticmethod
    def save_audio(*args, **kwargs):
        raise NotImplementedError("comfy_api.latest.ui.AudioSaveHelper.save_audio: audio output is not supported "
                                  "by Latentflow")

    get_save_audio_ui = save_audio


__all__ = ["SavedResult", "SavedImages", "SavedAudios", "ImageSaveHelper", "AudioSaveHelper", "PreviewImage",
           "PreviewMask", "PreviewAudio", "PreviewVideo", "PreviewUI3D", "PreviewText"]
