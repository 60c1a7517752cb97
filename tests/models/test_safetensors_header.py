"""Malformed safetensors headers fail with a WeightsError naming the file, never a raw Python error."""
import json
import struct

import pytest

from core.models.safetensors_header import WeightsError, read_safetensors_header


def write(path, header, data=b"\0" * 16):
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def entry(**over):
    return {"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16], **over}}


@pytest.mark.parametrize("header,reason", [
    ([1, 2, 3], "is a JSON list, not an object"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"w": {"dtype": "F32", "shape": [NaN], "data_offsets": [0, 16]}}', "not valid JSON"),
    (entry(shape=[-2, -2]), "invalid shape [-2, -2]"),
    (entry(shape=[2.0, 2]), "invalid shape"),
    (entry(shape=[True, 4]), "invalid shape"),
    (entry(shape="2x2"), "invalid shape"),
    (entry(data_offsets=[0.0, 16.0]), "invalid data_offsets [0.0, 16.0]"),
    (entry(data_offsets=[16, 0]), "invalid data_offsets"),
    (entry(data_offsets=[-16, 0]), "invalid data_offsets"),
    (entry(data_offsets=[0, 16, 32]), "invalid data_offsets"),
    (entry(dtype=["F32"]), "unsupported dtype"),
    ({"w": [1, 2]}, "not an object"),
    ({**entry(), "__metadata__": {"a": {"b": "c"}}}, "__metadata__ must map names to strings"),
    ({**entry(), "__metadata__": [1]}, "__metadata__ must map names to strings"),
    (entry(shape=[2, 3]), "size does not match"),
    (entry(data_offsets=[0, 64], shape=[4, 4]), "truncated"),
])
def test_a_malformed_header_is_a_weights_error_naming_the_file(tmp_path, header, reason):
    path = write(tmp_path / "bad model.safetensors", header)
    with pytest.raises(WeightsError) as e:
        read_safetensors_header(path)
    assert str(path) in str(e.value) and reason in str(e.value)


def test_the_loader_reports_the_same_error(tmp_path):
    from core.models.weights import load_file

    path = write(tmp_path / "neg.safetensors", entry(shape=[-2, -2]))
    with pytest.raises(WeightsError, match=r"neg\.safetensors: tensor 'w' has an invalid shape"):
        load_file(path)


def test_a_good_header_reads_its_entries_and_metadata(tmp_path):
    path = write(tmp_path / "ok.safetensors", {**entry(), "__metadata__": {"format": "pt"}})
    header, metadata, start = read_safetensors_header(path)
    assert header["w"]["shape"] == [2, 2] and metadata == {"format": "pt"} and start == path.stat().st_size - 16
