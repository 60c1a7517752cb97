"""Textual-inversion files in the embeddings folders: formats, lookup by name, width checks."""
import logging

import pytest
import torch
from safetensors.torch import save_file

from core.models.embeddings import EmbeddingLookup, embedding_vectors, find_embedding_file, read_embedding_file


def vectors(n, width, seed=0):
    return torch.randn(n, width, generator=torch.Generator().manual_seed(seed))


def test_safetensors_file_is_read(tmp_path):
    v = vectors(2, 16)
    save_file({"emb_params": v}, str(tmp_path / "foo.safetensors"))
    assert torch.equal(EmbeddingLookup([tmp_path], width=16, key="clip_l")("foo"), v)


def test_a1111_pt_file_with_string_to_param_is_read(tmp_path):
    v = vectors(3, 16)
    torch.save({"string_to_token": {"*": 265}, "string_to_param": {"*": v}, "name": "bar", "step": 1000},
               tmp_path / "bar.pt")
    assert torch.equal(EmbeddingLookup([tmp_path], width=16, key="clip_l")("bar"), v)


def test_pt_files_are_loaded_without_running_pickled_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="evil.pt"):
        read_embedding_file(tmp_path / "evil.pt")


def test_sdxl_file_gives_each_encoder_its_own_vectors(tmp_path):
    l, g = vectors(2, 16, 1), vectors(2, 24, 2)
    save_file({"clip_l": l, "clip_g": g}, str(tmp_path / "xl.safetensors"))
    assert torch.equal(EmbeddingLookup([tmp_path], width=16, key="clip_l")("xl"), l)
    assert torch.equal(EmbeddingLookup([tmp_path], width=24, key="clip_g")("xl"), g)


def test_first_tensor_is_used_for_unknown_layouts():
    v = vectors(1, 8)
    assert torch.equal(embedding_vectors({"something": v, "other": vectors(1, 8, 5)}, width=8), v)


def test_single_vector_becomes_one_token():
    assert embedding_vectors({"emb": torch.ones(8)}, width=8).shape == (1, 8)


def test_vectors_of_another_width_are_skipped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        assert embedding_vectors({"emb": vectors(2, 16)}, width=24, name="sd1emb") is None
    assert "sd1emb" in caplog.text and "24" in caplog.text


def test_name_is_found_with_or_without_extension(tmp_path):
    save_file({"emb": vectors(1, 4)}, str(tmp_path / "neg.safetensors"))
    assert find_embedding_file("neg", [tmp_path]) == (tmp_path / "neg.safetensors").resolve()
    assert find_embedding_file("neg.safetensors", [tmp_path]) == (tmp_path / "neg.safetensors").resolve()


def test_subfolders_are_searched(tmp_path):
    (tmp_path / "negatives").mkdir()
    save_file({"emb": vectors(1, 4)}, str(tmp_path / "negatives" / "bad.safetensors"))
    assert find_embedding_file("bad", [tmp_path]) == (tmp_path / "negatives" / "bad.safetensors").resolve()


def test_names_cannot_leave_the_embeddings_folder(tmp_path):
    inside = tmp_path / "emb"
    inside.mkdir()
    save_file({"emb": vectors(1, 4)}, str(tmp_path / "secret.safetensors"))
    assert find_embedding_file("../secret", [inside]) is None


def test_missing_embedding_is_none(tmp_path):
    assert EmbeddingLookup([tmp_path], width=4, key=None)("nothing") is None
