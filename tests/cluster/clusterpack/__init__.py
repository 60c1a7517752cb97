"""A stand-in custom node pack for the cluster tests, loaded by every worker from its custom_nodes folder.

``ClusterHold`` passes a latent through after holding it for a while, in small steps that report
progress, check for interrupts and tell the server (through ``PromptServer.send_sync``) which process
holds it — so a test can kill that very process mid-job.
"""
import os
import time

import comfy.model_management
import comfy.utils
from server import PromptServer


class ClusterHold:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT",),
                             "seconds": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 600.0, "step": 0.05})}}

    RETURN_TYPES = ("LATENT",)
    FUNCTION = "hold"
    CATEGORY = "testing/cluster"

    def hold(self, samples, seconds):
        PromptServer.instance.send_sync("cluster_hold", {"pid": os.getpid()})
        steps = max(1, int(seconds / 0.05))
        bar = comfy.utils.ProgressBar(steps)
        for _ in range(steps):
            comfy.model_management.throw_exception_if_processing_interrupted()
            time.sleep(seconds / steps)
            bar.update(1)
        return (samples,)


NODE_CLASS_MAPPINGS = {"ClusterHold": ClusterHold}
