"""GLIGEN end to end: GLIGENLoader + GLIGENTextBoxApply in a workflow on a tiny checkpoint and a tiny GLIGEN
file, run headless; the boxes reach the positive and (as in ComfyUI) the negative prompt."""
import pytest
import torch

from core.models.tiny import tiny_unet_config, write_tiny_checkpoint
from core.models.weights import save_safetensors
from tests.gligen.gligen_testfiles import tiny_gligen_state_dict

pytestmark = pytest.mark.usefixtures("cpu_fp32")


def _prompt(box_x=0, with_gligen=True):
    positive = ["5", 0] if with_gligen else ["2", 0]
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "a meadow"}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "blurry"}},
        "4": {"class_type": "GLIGENLoader", "inputs": {"gligen_name": "tiny_gligen.safetensors"}},
        "5": {"class_type": "GLIGENTextBoxApply",
              "inputs": {"conditioning_to": ["2", 0], "clip": ["1", 1], "gligen_textbox_model": ["4", 0],
                         "text": "a red ball", "width": 32, "height": 24, "x": box_x, "y": 16}},
        "6": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "7": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "seed": 3, "steps": 2, "cfg": 5.0,
                                                   "sampler_name": "euler", "scheduler": "normal",
                                                   "positive": positive, "negative": ["3", 0],
                                                   "latent_image": ["6", 0], "denoise": 1.0}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["7", 0], "vae": ["1", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "gligen"}},
    }


@pytest.fixture()
def run(folders):
    import nodes
    from core.execution.executor import Executor
    from core.execution.registry import NodeRegistry

    write_tiny_checkpoint(folders.models_dir / "checkpoints" / "tiny.safetensors", "sd15")
    gligen = folders.models_dir / "gligen" / "tiny_gligen.safetensors"
    gligen.parent.mkdir(parents=True, exist_ok=True)
    save_safetensors(tiny_gligen_state_dict(tiny_unet_config("sd15"), key_dim=768, pooled_dim=32), gligen)
    registry = NodeRegistry()
    nodes.register_builtin_nodes(registry)
    executor = Executor(registry, cache="none")

    def go(prompt):
        import numpy as np
        from PIL import Image

        result = executor.execute(prompt, "job", {})
        assert result.success, result.error
        image = result.outputs["9"]["images"][0]
        return torch.from_numpy(np.array(Image.open(folders.output_dir / image["subfolder"] / image["filename"])))

    return go


def test_gligen_workflow_runs_and_the_box_steers_the_image(run):
    grounded = run(_prompt(box_x=0))
    plain = run(_prompt(with_gligen=False))
    moved = run(_prompt(box_x=32))
    assert grounded.shape == (64, 64, 3)
    assert not torch.equal(grounded, plain)
    assert not torch.equal(grounded, moved)


def test_text_box_apply_appends_boxes_in_latent_units():
    from nodes.gligen import GLIGENTextBoxApply

    class Clip:
        def tokenize(self, text):
            return {"l": text}

        def encode_from_tokens(self, tokens, return_pooled=False):
            assert return_pooled == "unprojected"
            return torch.zeros(1, 77, 8), torch.full((1, 8), float(len(tokens["l"])))

    model = object()
    cond = [[torch.zeros(1, 77, 8), {"pooled_output": None}]]
    once = GLIGENTextBoxApply().execute(cond, Clip(), model, "ball", 64, 32, 8, 16)[0]
    twice = GLIGENTextBoxApply().execute(once, Clip(), model, "a tree", 16, 24, 40, 0)[0]
    kind, got_model, boxes = twice[0][1]["gligen"]
    assert kind == "position" and got_model is model
    assert [b[1:] for b in boxes] == [(4, 8, 2, 1), (3, 2, 0, 5)]  # (h, w, y, x) / 8
    assert float(boxes[1][0][0, 0]) == 6.0
    assert "gligen" not in cond[0][1] and len(once[0][1]["gligen"][2]) == 1  # inputs untouched


def test_the_negative_prompt_gets_the_positive_boxes():
    from core.sampling.sample import _gligen_to_uncond

    g = ("position", "model", ["box"])
    pos = [[None, {"gligen": g}]]
    neg = [[None, {}], [None, {"area": (1, 1, 0, 0)}]]
    out = _gligen_to_uncond(pos, neg)
    assert out[0][1]["gligen"] is g and "gligen" not in out[1][1]  # entries with an area keep theirs
    assert "gligen" not in neg[0][1]
    own = [[None, {"gligen": ("position", "model", [])}]]
    assert _gligen_to_uncond(pos, own) is own  # a negative with its own boxes is left alone
