"""SaveImageWebsocket: hands images to the client over the websocket instead of writing files.

Each image goes out as a binary preview frame of the running node, a full-size PNG (frame format 2),
as ComfyUI's node of the same name does; ComfyUI's ``websockets_api_example_ws_images.py`` collects
them while its node is executing. Nothing is saved and nothing appears in the history outputs.
"""
from __future__ import annotations

import time

from core.execution.spec import In, Node


class SaveImageWebsocket(Node):
    CATEGORY = "api/image"
    DISPLAY_NAME = "Save Image (Websocket)"
    DESCRIPTION = "Sends the images to the client that queued the job, as full-size PNG frames over the websocket."
    OUTPUT_NODE = True
    INPUTS = (In("IMAGE", "images", tooltip="The images to send."),)
    OUTPUTS = ()

    def execute(self, images):
        import numpy as np
        from PIL import Image

        from core.execution.progress import ProgressBar

        total = int(images.shape[0])
        bar = ProgressBar(total)
        for i, image in enumerate(images):
            pixels = np.clip(image.float().cpu().numpy() * 255.0, 0, 255).astype(np.uint8)
            if pixels.shape[-1] == 1:  # a one-channel image: greyscale PNG
                pixels = pixels[..., 0]
            bar.update_absolute(i + 1, total, ("PNG", Image.fromarray(pixels), None))  # None: full size
        return {}

    @classmethod
    def IS_CHANGED(cls, images):
        # Its only effect is the frames sent to the client: a cached run would send nothing, so it always runs.
        return time.time()


NODES = [SaveImageWebsocket]
