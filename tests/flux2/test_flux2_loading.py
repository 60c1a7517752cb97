"""FLUX.2 files in scaled 8-bit storage (the -fp8 / fp8mixed releases): weights come back as stored x scale."""
from __future__ import annotations

import pytest
import torch


def quantized(sd: dict, spelling: str = "weight_scale") -> dict:
    """Every matrix as float8_e4m3fn with a per-tensor float32 scale, plus the input scales and layer markers
    such files carry beside them."""
    out = {}
    for key, t in sd.items():
        if t.ndim == 2:
            base = key[:-len(".weight")]
            scale = t.abs().max().float() / 448.0
            out[key] = (t / scale).to(torch.float8_e4m3fn)
            out[f"{base}.{spelling}"] = scale.reshape(())
            out[f"{base}.{'input_scale' if spelling == 'weight_scale' else 'scale_input'}"] = torch.tensor(1.0)
            if spelling == "weight_scale":
                out[f"{base}.comfy_quant"] = torch.tensor(list(b'{"format": "float8_e4m3fn"}'), dtype=torch.uint8)
        else:
            out[key] = t
    if spelling == "scale_weight":
        out["scaled_fp8"] = torch.empty(0, dtype=torch.float8_e4m3fn)
    return out


@pytest.mark.parametrize("spelling", ["weight_scale", "scale_weight"])
def test_scaled_fp8_weights_load_as_stored_times_scale(cpu_fp32, folders, spelling):
    from core.models.tiny import tiny_flux2_state_dict
    from core.models.weights import save_safetensors
    from nodes.loaders import UNETLoader

    sd = tiny_flux2_state_dict("klein")
    q = quantized(sd, spelling)
    folder = folders.base / "models" / "diffusion_models"
    folder.mkdir(parents=True, exist_ok=True)
    save_safetensors(q, folder / "flux-2-klein-4b-fp8.safetensors")
    (model,) = UNETLoader().execute("flux-2-klein-4b-fp8.safetensors", "default")
    loaded = model.unet.state_dict()
    key = "double_blocks.0.img_attn.qkv.weight"
    assert torch.equal(loaded[key], q[key].float() * q[key.replace(".weight", f".{spelling}")])
    assert torch.allclose(loaded[key], sd[key], rtol=0.07, atol=1e-3)  # within fp8's precision of the original
    assert torch.equal(loaded["double_blocks.0.img_attn.norm.query_norm.scale"],
                       sd["double_blocks.0.img_attn.norm.query_norm.scale"])


def test_a_scale_of_unknown_shape_is_refused_by_name():
    from core.models.flux2_loading import dequantized

    sd = {"img_in.weight": torch.zeros(4, 3, dtype=torch.float8_e4m3fn), "img_in.weight_scale": torch.ones(3)}
    with pytest.raises(ValueError, match="flux-2-x.safetensors: scale of img_in.weight has shape"):
        dequantized(sd, "", "flux-2-x.safetensors")
