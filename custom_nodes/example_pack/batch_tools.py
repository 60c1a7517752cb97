"""Two batch utilities: lay an IMAGE batch out as one grid image; pick items of a LATENT batch."""
import math

import nodes


class ImageBatchGrid:
    """Contact sheet: every image of the batch in a grid, row by row, on a grey background."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE",),
                "columns": ("INT", {"default": 0, "min": 0, "max": 64,
                                    "tooltip": "Images per row; 0 picks a near-square grid."}),
                "spacing": ("INT", {"default": 4, "min": 0, "max": 256, "step": 1}),
                "background": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.01,
                                         "tooltip": "Grey level between and around the images."}),
            }
        }

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "grid"
    CATEGORY = "image/batch"
    DESCRIPTION = "Lays a batch of images out as one grid image."

    def grid(self, images, columns, spacing, background):
        import torch

        count, height, width, channels = images.shape  # [B, H, W, C]
        cols = columns or math.ceil(math.sqrt(count))
        cols = min(cols, count)
        rows = math.ceil(count / cols)
        out_h = rows * height + (rows + 1) * spacing
        out_w = cols * width + (cols + 1) * spacing
        if max(out_h, out_w) > nodes.MAX_RESOLUTION:
            raise ValueError(f"ImageBatchGrid: a {rows}x{cols} grid of {width}x{height} images is "
                             f"{out_w}x{out_h}, above the maximum {nodes.MAX_RESOLUTION}")
        sheet = torch.full((1, out_h, out_w, channels), float(background), dtype=images.dtype)
        for index in range(count):
            r, c = divmod(index, cols)
            top = spacing + r * (height + spacing)
            left = spacing + c * (width + spacing)
            sheet[0, top:top + height, left:left + width] = images[index]
        return (sheet,)


class LatentBatchPick:
    """Keeps the listed batch items; records their original indices so seeds reproduce them alone."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "samples": ("LATENT",),
                "indices": ("STRING", {"default": "0", "tooltip": "Comma-separated, e.g. 0,2,3; negative counts from the end."}),
            }
        }

    RETURN_TYPES = ("LATENT",)
    FUNCTION = "pick"
    CATEGORY = "latent/batch"

    def pick(self, samples, indices):
        latents = samples["samples"]  # [B, 4, H/8, W/8]
        size = latents.shape[0]
        try:
            wanted = [int(part) for part in indices.replace(" ", "").split(",") if part != ""]
        except ValueError:
            raise ValueError(f"LatentBatchPick, input 'indices': {indices!r} is not a comma-separated list of integers")
        if not wanted:
            raise ValueError("LatentBatchPick, input 'indices': no index given")
        for i in wanted:
            if not -size <= i < size:
                raise ValueError(f"LatentBatchPick, input 'indices': {i} is outside the batch of {size}")
        wanted = [i % size for i in wanted]
        out = dict(samples)
        out["samples"] = latents[wanted].clone()
        mask = samples.get("noise_mask")
        if mask is not None and mask.shape[0] == size:
            out["noise_mask"] = mask[wanted].clone()
        # batch_index tells the sampler which per-item noise to draw (docs/comfy-api.md §6, seeded noise).
        original = samples.get("batch_index") or list(range(size))
        out["batch_index"] = [original[i] for i in wanted]
        return (out,)
