"""t5xxl_fp8_e4m3fn_scaled files: stored float8 x scale_weight, dequantized on load within fp8 precision."""
import pytest
import torch

from core.models import t5
from core.models.tiny import tiny_text_encoder_state_dict
from core.models.weights import load_file

E4M3_RELATIVE_STEP = 2.0 ** -3  # 3 mantissa bits: neighbouring normal values differ by at most 1/8 of the value


@pytest.fixture(scope="module")
def fp8_file(tiny_te_dir):
    return load_file(tiny_te_dir / "t5xxl_fp8_e4m3fn_scaled.safetensors")[0]


@pytest.fixture(scope="module")
def fp32_weights():
    return tiny_text_encoder_state_dict("t5xxl")


def test_the_file_stores_linear_weights_as_fp8_with_scales_and_a_marker(fp8_file):
    assert fp8_file["encoder.block.0.layer.0.SelfAttention.q.weight"].dtype == torch.float8_e4m3fn
    assert fp8_file["encoder.block.0.layer.0.SelfAttention.q.scale_weight"].dtype == torch.float32
    assert fp8_file["encoder.final_layer_norm.weight"].dtype == torch.float16
    assert "scaled_fp8" in fp8_file


def test_dequantized_linear_weights_round_trip_within_fp8_precision(fp8_file, fp32_weights):
    model = t5.load_t5(fp8_file, dtype=torch.float32, device="cpu")
    loaded = model.state_dict()
    for key in ("encoder.block.0.layer.0.SelfAttention.q.weight", "encoder.block.1.layer.1.DenseReluDense.wo.weight"):
        ref, got = fp32_weights[key], loaded[key]
        scale = fp8_file[key.replace(".weight", ".scale_weight")]
        # half a step of the value, or of the smallest subnormal (2^-9) in scaled units
        bound = torch.maximum(ref.abs() * E4M3_RELATIVE_STEP / 2, scale * 2.0 ** -10) * 1.001
        assert ((got - ref).abs() <= bound).all(), key
        assert not torch.equal(got, ref)  # it did go through fp8


def test_scales_and_marker_do_not_reach_the_module(fp8_file):
    sd = t5.to_module_state_dict(fp8_file, torch.float16)
    assert not [k for k in sd if k.endswith("scale_weight") or k == "scaled_fp8"]
    assert sd["encoder.block.0.layer.0.SelfAttention.q.weight"].dtype == torch.float16


def test_an_unscaled_fp8_file_loads_by_plain_conversion(fp32_weights):
    fp8 = {k: v.to(torch.float8_e4m3fn) if v.ndim == 2 and k != "shared.weight" else v for k, v in fp32_weights.items()}
    model = t5.load_t5(fp8, dtype=torch.float32, device="cpu")
    key = "encoder.block.0.layer.1.DenseReluDense.wi_0.weight"
    torch.testing.assert_close(model.state_dict()[key], fp8[key].float())


def test_fp8_encoding_equals_transformers_on_the_dequantized_weights(fp8_file):
    from tests.dit_text.dit_text_refs import hf_t5

    # independent dequantization: stored value times its scale, everything else as stored
    reference = {k: v.float() * fp8_file[k[:-len("weight")] + "scale_weight"] if v.dtype == torch.float8_e4m3fn
                 else v.float() for k, v in fp8_file.items()
                 if not k.endswith("scale_weight") and k != "scaled_fp8"}
    ids = torch.randint(0, 32100, (1, 30), generator=torch.Generator().manual_seed(1))
    quant = t5.load_t5(fp8_file, dtype=torch.float32, device="cpu")
    with torch.no_grad():
        ref = hf_t5(reference)(input_ids=ids).last_hidden_state
    torch.testing.assert_close(quant(quant.token_embeddings(ids)), ref, atol=1e-4, rtol=1e-4)
