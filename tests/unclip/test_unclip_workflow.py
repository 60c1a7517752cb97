"""An SD2 unCLIP workflow end to end on a tiny unCLIP checkpoint: unCLIPCheckpointLoader's CLIP_VISION
encodes an input image, unCLIPConditioning feeds its embedding to the U-Net's vector input."""
import pytest
import torch

from core.models.tiny import write_tiny_checkpoint

pytestmark = pytest.mark.usefixtures("cpu_fp32")


def _prompt(strength=1.0, augmentation=0.0, image="photo.png"):
    return {
        "1": {"class_type": "unCLIPCheckpointLoader", "inputs": {"ckpt_name": "tiny_unclip.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "a painting"}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": ""}},
        "4": {"class_type": "LoadImage", "inputs": {"image": image}},
        "5": {"class_type": "CLIPVisionEncode", "inputs": {"clip_vision": ["1", 3], "image": ["4", 0], "crop": "center"}},
        "6": {"class_type": "unCLIPConditioning", "inputs": {"conditioning": ["2", 0], "clip_vision_output": ["5", 0],
                                                              "strength": strength, "noise_augmentation": augmentation}},
        "7": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "8": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "seed": 4, "steps": 2, "cfg": 6.0,
                                                   "sampler_name": "euler", "scheduler": "normal",
                                                   "positive": ["6", 0], "negative": ["3", 0],
                                                   "latent_image": ["7", 0], "denoise": 1.0}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["10", 0], "filename_prefix": "unclip"}},
        "10": {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["1", 2]}},
    }


@pytest.fixture()
def run(folders):
    import numpy as np
    from PIL import Image

    import nodes
    from core.execution.executor import Executor
    from core.execution.registry import NodeRegistry

    write_tiny_checkpoint(folders.models_dir / "checkpoints" / "tiny_unclip.safetensors", "sd21_unclip")
    folders.input_dir.mkdir(parents=True, exist_ok=True)
    for name, seed in (("photo.png", 0), ("other.png", 1)):
        rng = np.random.default_rng(seed)
        Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)).save(folders.input_dir / name)
    registry = NodeRegistry()
    nodes.register_builtin_nodes(registry)
    executor = Executor(registry, cache="none")

    def go(prompt):
        result = executor.execute(prompt, "job", {})
        assert result.success, result.error
        image = result.outputs["9"]["images"][0]
        return torch.from_numpy(np.array(Image.open(folders.output_dir / image["subfolder"] / image["filename"])))

    return go


def test_unclip_workflow_runs_and_the_image_steers_it(run):
    base = run(_prompt())
    assert base.shape == (64, 64, 3)
    assert not torch.equal(base, run(_prompt(image="other.png")))


def test_strength_and_noise_augmentation_change_the_result(run):
    base = run(_prompt())
    assert not torch.equal(base, run(_prompt(strength=0.3)))
    assert not torch.equal(base, run(_prompt(augmentation=0.5)))


def test_the_loader_gives_the_checkpoints_image_encoder(folders):
    from nodes.loaders import unCLIPCheckpointLoader

    write_tiny_checkpoint(folders.models_dir / "checkpoints" / "u.safetensors", "sd21_unclip")
    model, clip, vae, vision = unCLIPCheckpointLoader().execute("u.safetensors")
    assert model.config.extra["unclip"] == {"embed_dim": 32}
    out = vision.encode_image(torch.rand(1, 32, 32, 3))
    assert out.image_embeds.shape == (1, 32)
    assert clip is not None and vae is not None


def test_a_missing_checkpoint_is_named_with_the_input(folders):
    from nodes.loaders import unCLIPCheckpointLoader

    with pytest.raises(ValueError, match="unCLIPCheckpointLoader, input 'ckpt_name'"):
        unCLIPCheckpointLoader().execute("nope.safetensors")
