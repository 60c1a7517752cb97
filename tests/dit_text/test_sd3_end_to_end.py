"""An SD3.5 single file bundling its text encoders: the checkpoint loader's CLIP (text_encoders.*) conditions
the file's MM-DiT, whose context width is the T5's and pooled width L + G (tiny: 96 and 32 + 48)."""
import torch


def test_bundled_sd35_text_encoders_condition_its_mmdit(tmp_path):
    from core import devices
    from core.models.checkpoint import load_checkpoint
    from core.models.dit_text import DitClipHandle
    from core.models.mmdit import MMDiTConfig
    from core.models.tiny import TINY_T5_CONFIG, tiny_bundled_text_encoders, tiny_mmdit_state_dict
    from core.models.weights import save_safetensors
    from nodes.sampling import KSampler
    from nodes.text import CLIPTextEncode

    devices.configure({"cpu": True, "force_fp32": True})
    try:
        config = MMDiTConfig(hidden_size=128, depth=3, num_heads=2, pos_embed_max_size=32,
                             context_in_dim=TINY_T5_CONFIG["d_model"], pooled_dim=32 + 48)
        sd = {**tiny_mmdit_state_dict(config, prefix="model.diffusion_model."), **tiny_bundled_text_encoders()}
        path = save_safetensors(sd, tmp_path / "sd3.5_large.safetensors")
        model, clip, _ = load_checkpoint(path, output_vae=False)
        assert isinstance(clip, DitClipHandle) and [e.role.name for e in clip.encoders] == ["l", "g", "t5xxl"]
        (negative,) = CLIPTextEncode().execute(clip, "")
        latent = {"samples": torch.zeros(1, 16, 4, 4)}

        def sample(text):
            (positive,) = CLIPTextEncode().execute(clip, text)
            return KSampler().execute(model, 3, 2, 4.0, "euler", "simple", positive, negative, latent, 1.0)[0]["samples"]

        cat, dog = sample("a cat"), sample("a dog")
        assert torch.isfinite(cat).all() and not torch.allclose(cat, dog)
    finally:
        devices.configure(None)
