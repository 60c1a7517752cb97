"""Save Image (Advanced) (ComfyUI's SaveImageAdvanced): PNG at 8 or 16 bits per channel, with the
prompt and workflow embedded like SaveImage. The format is a dynamic combo; EXR and AVIF, which ComfyUI
also offers, are declared so workflows load, and refused with a clear error when chosen."""
from __future__ import annotations

from core.execution.spec import HIDDEN_EXTRA_PNGINFO, HIDDEN_PROMPT, Combo, DynamicCombo, Float, In, Int, Node, \
    Output, String

FORMATS = {
    "png": (Combo("bit_depth", choices=["8-bit", "16-bit"], default="8-bit"),
            Combo("input_color_space", choices=["sRGB"], default="sRGB")),
    "exr": (Combo("bit_depth", choices=["32-bit float"], default="32-bit float"),
            Combo("input_color_space", choices=["sRGB", "HDR", "linear"], default="sRGB")),
    "avif": (Combo("bit_depth", choices=["auto", "8-bit YUV420", "10-bit YUV420"], default="auto"),
             Combo("input_color_space", choices=["sRGB", "HDR", "HDR PQ"], default="sRGB"),
             Int("crf", default=18, min=1, max=63),
             DynamicCombo("save_mode", choices={"still images": (),
                                                 "animated": (Float("fps", default=6.0, min=0.01, max=1000.0, step=0.01),
                                                              Int("loop_count", default=0, min=0, max=1000))})),
}


def save_png(images, filename_prefix: str, bit_depth: str, prompt=None, extra_pnginfo=None) -> list:
    """Write PNGs; ``ui.images`` entries back. 8-bit goes through SaveImage's writer; PIL cannot write
    16-bit colour, so 16-bit PNGs are encoded here (IHDR, tEXt metadata, one IDAT, IEND)."""
    from core import paths
    from core.workflow import png as pngmeta

    if bit_depth == "8-bit":
        return pngmeta.save_images(images, filename_prefix, paths.get().output_dir, "output", prompt, extra_pnginfo,
                                   compress_level=4)
    return _save_png16(images, filename_prefix, prompt, extra_pnginfo)


def _save_png16(images, filename_prefix: str, prompt, extra_pnginfo) -> list:
    import json
    import struct
    import zlib

    import numpy as np

    from core import paths
    from core.workflow import png as pngmeta

    height, width = int(images.shape[1]), int(images.shape[2])
    folder, base, counter, subfolder = pngmeta.save_path(filename_prefix, paths.get().output_dir, width, height)
    texts = {}
    if prompt is not None:
        texts["prompt"] = json.dumps(prompt)
    for key, value in (extra_pnginfo or {}).items():
        texts[key] = json.dumps(value)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    results = []
    for batch_number, image in enumerate(images):
        pixels = (image.clamp(0, 1).float().cpu().numpy() * 65535.0 + 0.5).astype(">u2")  # big-endian 16-bit
        channels = pixels.shape[-1]
        colour = {1: 0, 3: 2, 4: 6}[channels]
        raw = b"".join(b"\x00" + row.tobytes() for row in pixels.reshape(height, width * channels))
        body = [chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, colour, 0, 0, 0))]
        body += [chunk(b"tEXt", k.encode("latin-1") + b"\x00" + v.encode("latin-1", "replace")) for k, v in texts.items()]
        body += [chunk(b"IDAT", zlib.compress(raw, 4)), chunk(b"IEND", b"")]
        name = f"{base.replace('%batch_num%', str(batch_number))}_{counter:05}_.png"
        (folder / name).write_bytes(b"\x89PNG\r\n\x1a\n" + b"".join(body))
        results.append({"filename": name, "subfolder": subfolder, "type": "output"})
        counter += 1
    return results


class SaveImageAdvanced(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = "image"
    DISPLAY_NAME = "Save Image (Advanced)"
    DESCRIPTION = "Saves the input images to your output directory, as 8- or 16-bit PNG."
    OUTPUT_NODE = True
    INPUTS = (In("IMAGE", "images", tooltip="The images to save."),
              String("filename_prefix", default="ComfyUI",
                     tooltip="The prefix for the file to save; may include %date:yyyy-MM-dd% or %Node.widget%."),
              DynamicCombo("format", choices=FORMATS, tooltip="The file format in which to save the image."))
    OUTPUTS = (Output("IMAGE", "images"),)
    HIDDEN = {"prompt": HIDDEN_PROMPT, "extra_pnginfo": HIDDEN_EXTRA_PNGINFO}

    def execute(self, images, filename_prefix="ComfyUI", format="png", prompt=None, extra_pnginfo=None, **option):
        from core.workflow import png as pngmeta

        if format != "png":
            raise ValueError(f"SaveImageAdvanced, input 'format': {format!r} files are not written by Latentflow "
                             "yet; choose png")
        bit_depth = option.get("format.bit_depth", "8-bit")
        try:
            results = save_png(images, filename_prefix, bit_depth, prompt, extra_pnginfo)
        except pngmeta.OutputPathError as e:
            raise ValueError(f"SaveImageAdvanced, input 'filename_prefix': {e}") from e
        return {"ui": {"images": results}, "result": (images,)}


NODES = [SaveImageAdvanced]
