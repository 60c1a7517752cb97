"""CLIPLoader type flux2 picks the encoder by the file: Mistral-Small-3.2 for FLUX.2 [dev], Qwen3 for [klein]."""
import torch

from core.models.mistral_text import MistralClip

DEV_FILE = "mistral_3_small_flux2_bf16.safetensors"  # the name FLUX.2 [dev]'s official template loads


def test_the_dev_templates_text_encoder_file_loads_as_mistral(cpu_fp32, folders):
    from core.models.tiny import write_tiny_mistral_flux2
    from nodes.text import CLIPLoader

    write_tiny_mistral_flux2(folders.base / "models" / "text_encoders" / DEV_FILE)
    (clip,) = CLIPLoader().execute(DEV_FILE, "flux2")
    assert isinstance(clip, MistralClip)
    cond, extra = clip.encode("a cat")[0]
    assert cond.shape == (1, 512, 96) and extra["pooled_output"] is None


def test_a_qwen3_file_as_flux2_still_loads_as_qwen3(cpu_fp32, folders):
    from core.models.qwen3_text import Qwen3Clip
    from core.models.tiny import write_tiny_qwen3
    from nodes.text import CLIPLoader

    write_tiny_qwen3(folders.base / "models" / "text_encoders" / "qwen_3_4b.safetensors", layers=27)
    (clip,) = CLIPLoader().execute("qwen_3_4b.safetensors", "flux2")
    assert isinstance(clip, Qwen3Clip)


def test_a_mistral_file_as_lumina2_is_refused_naming_the_file(cpu_fp32, folders):
    import pytest

    from core.models.tiny import write_tiny_mistral_flux2
    from nodes.text import CLIPLoader

    write_tiny_mistral_flux2(folders.base / "models" / "text_encoders" / DEV_FILE)
    with pytest.raises(ValueError, match=f"CLIPLoader.*'lumina2'.*{DEV_FILE}.*not a Qwen3"):
        CLIPLoader().execute(DEV_FILE, "lumina2")


def test_workflow_stand_ins_provide_the_dev_text_encoder(cpu_fp32, folders):
    from core.models.standins import provision
    from nodes.text import CLIPLoader

    prompt = {"38": {"class_type": "CLIPLoader", "inputs": {"clip_name": DEV_FILE, "type": "flux2"}}}
    assert provision(prompt, folders.base) == []
    (clip,) = CLIPLoader().execute(DEV_FILE, "flux2")
    assert isinstance(clip, MistralClip) and clip.model.config.hidden_size == 32
