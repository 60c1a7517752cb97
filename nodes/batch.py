"""List/batch regrouping: RebatchImages and RebatchLatents take a list of batches (INPUT_IS_LIST) and
return a list of batches of ``batch_size`` items, so a list of single images becomes one batch or a big
batch is split for list-mapped nodes (docs/comfy-api.md §5.4)."""
from __future__ import annotations

from core.execution.spec import In, Int, Node, Output


def _chunks(items, size):
    return [items[i:i + size] for i in range(0, len(items), size)]


class RebatchImages(Node):
    COMFY_V3 = True  # ComfyUI declares it with the V3 API: plugins may call Cls.execute(...)
    CATEGORY = "image/batch"
    DISPLAY_NAME = "Rebatch Images"
    INPUTS = (In("IMAGE", "images"), Int("batch_size", default=1, min=1, max=4096))
    OUTPUTS = (Output("IMAGE", is_list=True),)
    INPUT_IS_LIST = True

    def execute(self, images, batch_size):
        import torch

        size = batch_size[0]
        singles = [image[i:i + 1] for image in images for i in range(image.shape[0])]
        batches = []
        for group in _chunks(singles, size):
            shape = group[0].shape[1:]
            bad = [tuple(g.shape[1:]) for g in group if g.shape[1:] != shape]
            if bad:
                raise ValueError(f"RebatchImages, input 'images': images of sizes {tuple(shape)} and {bad[0]} "
                                 f"cannot share a batch")
            batches.append(torch.cat(group, dim=0))
        return (batches,)


class RebatchLatents(Node):
    COMFY_V3 = True  # ComfyUI declares it with the V3 API: plugins may call Cls.execute(...)
    CATEGORY = "latent/batch"
    DISPLAY_NAME = "Rebatch Latents"
    INPUTS = (In("LATENT", "latents"), Int("batch_size", default=1, min=1, max=4096))
    OUTPUTS = (Output("LATENT", is_list=True),)
    INPUT_IS_LIST = True

    def execute(self, latents, batch_size):
        import torch

        size = batch_size[0]
        singles = []  # one dict per latent item, carrying its noise mask and noise index
        for latent in latents:
            x = latent["samples"]
            mask = latent.get("noise_mask")
            indices = latent.get("batch_index", list(range(x.shape[0])))
            for i in range(x.shape[0]):
                item = {"samples": x[i:i + 1], "batch_index": [indices[i]]}
                if mask is not None:
                    item["noise_mask"] = mask[min(i, mask.shape[0] - 1)].unsqueeze(0)
                singles.append(item)
        batches, group = [], []
        for item in singles:  # a new batch at batch_size items or where the latent size changes
            if group and (len(group) == size or item["samples"].shape[1:] != group[0]["samples"].shape[1:]):
                batches.append(group)
                group = []
            group.append(item)
        if group:
            batches.append(group)
        out = []
        for group in batches:
            batch = {"samples": torch.cat([g["samples"] for g in group]),
                     "batch_index": [g["batch_index"][0] for g in group]}
            if any("noise_mask" in g for g in group):
                masks = [g.get("noise_mask") for g in group]
                shape = next(m for m in masks if m is not None).shape
                batch["noise_mask"] = torch.cat([m if m is not None else torch.ones(shape) for m in masks])
            out.append(batch)
        return (out,)


NODES = (RebatchImages, RebatchLatents)
