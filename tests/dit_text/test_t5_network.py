"""Our T5 v1.1 encoder (core/models/t5.py) equals transformers' T5EncoderModel, weights read from the file layout."""
import pytest
import torch

from core.models import t5
from core.models.tiny import tiny_t5_config, tiny_text_encoder_state_dict
from core.models.weights import load_file, save_safetensors
from tests.dit_text.dit_text_refs import hf_t5


@pytest.fixture(scope="module")
def weights():
    return tiny_text_encoder_state_dict("t5xxl")


@pytest.fixture(scope="module")
def ours(weights, tmp_path_factory):
    path = save_safetensors(weights, tmp_path_factory.mktemp("t5") / "t5xxl_fp32.safetensors")
    sd, _ = load_file(path)
    return t5.load_t5(sd, dtype=torch.float32, device="cpu")


def ids(n=40, seed=0):
    return torch.randint(0, 32100, (2, n), generator=torch.Generator().manual_seed(seed))


def test_tiny_file_keys_are_the_released_key_names(weights):
    assert "shared.weight" in weights and "encoder.final_layer_norm.weight" in weights
    assert "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight" in weights
    assert "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight" not in weights
    assert "encoder.block.1.layer.1.DenseReluDense.wi_1.weight" in weights


def test_config_is_read_from_the_shapes(weights):
    assert t5.config_from_state_dict(weights) == tiny_t5_config()


@pytest.mark.parametrize("length", [7, 200])  # 200 > max_distance: the logarithmic buckets are used
def test_last_hidden_state_equals_transformers(ours, length):
    x = ids(length)
    with torch.no_grad():
        ref = hf_t5()(input_ids=x).last_hidden_state
        got = ours(ours.token_embeddings(x))
    torch.testing.assert_close(got, ref, atol=1e-4, rtol=1e-4)


def test_intermediate_layer_with_final_norm_equals_transformers(ours):
    x = ids()
    with torch.no_grad():
        model = hf_t5()
        hidden = model(input_ids=x, output_hidden_states=True).hidden_states[-2]
        ref = model.encoder.final_layer_norm(hidden)
        got = ours(ours.token_embeddings(x), layer=-2)
    torch.testing.assert_close(got, ref, atol=1e-4, rtol=1e-4)


def test_attention_mask_equals_transformers(ours):
    x = ids(12)
    mask = torch.ones(2, 12, dtype=torch.long)
    mask[0, 8:] = 0
    with torch.no_grad():
        ref = hf_t5()(input_ids=x, attention_mask=mask).last_hidden_state
        got = ours(ours.token_embeddings(x), mask=mask)
    torch.testing.assert_close(got[0, :8], ref[0, :8], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(got[1], ref[1], atol=1e-4, rtol=1e-4)


def test_relative_position_buckets_equal_transformers():
    from transformers.models.t5.modeling_t5 import T5Attention

    rel = torch.arange(-300, 301)[None, :] - torch.zeros(1, 1, dtype=torch.long)
    ref = T5Attention._relative_position_bucket(rel, bidirectional=True, num_buckets=32, max_distance=128)
    assert torch.equal(t5.relative_position_bucket(rel, 32, 128), ref)


def test_half_precision_weights_compute_in_float32(weights):
    half = t5.load_t5({k: v.half() for k, v in weights.items()}, dtype=torch.float16, device="cpu")
    assert half.shared.weight.dtype == torch.float16
    x = ids()
    out = half(half.token_embeddings(x, torch.float32))
    assert out.dtype == torch.float32
    with torch.no_grad():
        ref = hf_t5({k: v.half().float() for k, v in weights.items()})(input_ids=x).last_hidden_state
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)


def test_a_t5_v1_0_file_is_refused_by_name(weights):
    v10 = {k.replace("wi_0", "wi"): v for k, v in weights.items() if "wi_1" not in k}
    with pytest.raises(ValueError, match="T5 v1.0"):
        t5.config_from_state_dict(v10)


def test_a_missing_weight_is_named(weights):
    broken = {k: v for k, v in weights.items() if k != "encoder.block.1.layer.0.SelfAttention.o.weight"}
    with pytest.raises(ValueError, match="SelfAttention.o.weight"):
        t5.load_t5(broken, dtype=torch.float32, device="cpu", where="t5 test")
