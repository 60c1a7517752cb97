"""The safetensors header, read and checked without torch (the loader and /view_metadata share it).

Layout (huggingface/safetensors, docs/format): 8 bytes little-endian header length N, N bytes of JSON
``{name: {"dtype", "shape": [ints], "data_offsets": [begin, end]}, "__metadata__"?: {str: str}}``, then
the data section. Every defect is a :class:`WeightsError` that names the file: a header that is a list,
nested, non-integer or negative shapes and offsets, offsets past the file's end.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

MAX_HEADER_BYTES = 100 * 2**20
ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
            "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}


class WeightsError(ValueError):
    """A weight file could not be read; the message names the file and the reason."""


def _non_negative_ints(value, length=None) -> bool:
    return (isinstance(value, list) and (length is None or len(value) == length)
            and all(type(v) is int and v >= 0 for v in value))


def _refuse_constant(name):
    raise ValueError(f"{name} is not allowed")


def parse_header(raw: bytes, path) -> tuple[dict, dict]:
    """(tensor entries, __metadata__) from the header's JSON bytes, every entry's fields checked."""
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except RecursionError:
        raise WeightsError(f"{path}: safetensors header is nested too deeply to be a header") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise WeightsError(f"{path}: safetensors header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise WeightsError(f"{path}: safetensors header is a JSON {type(header).__name__}, not an object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise WeightsError(f"{path}: safetensors __metadata__ must map names to strings")
    for key, entry in header.items():
        if not isinstance(entry, dict):
            raise WeightsError(f"{path}: malformed safetensors entry for {key!r} (not an object)")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if not isinstance(dtype, str) or dtype not in ITEMSIZE:
            raise WeightsError(f"{path}: tensor {key!r} has unsupported dtype {dtype!r}")
        if not _non_negative_ints(shape):
            raise WeightsError(f"{path}: tensor {key!r} has an invalid shape {shape!r} "
                               "(a list of non-negative integers expected)")
        if not _non_negative_ints(offsets, 2) or offsets[0] > offsets[1]:
            raise WeightsError(f"{path}: tensor {key!r} has invalid data_offsets {offsets!r} "
                               "(two non-negative integers, begin <= end, expected)")
    return header, metadata


def read_safetensors_header(path: Path) -> tuple[dict, dict, int]:
    """(tensor entries, __metadata__, offset of the data section); validates against the file size."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise WeightsError(f"{path}: file is too short to be a safetensors file ({size} bytes)")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER_BYTES or 8 + n > size:
            raise WeightsError(f"{path}: not a valid safetensors file (header length {n} does not fit the "
                               f"{size}-byte file; truncated or another format)")
        raw = f.read(n)
    header, metadata = parse_header(raw, path)
    start = 8 + n
    data_size = size - start
    for key, entry in header.items():
        begin, end = entry["data_offsets"]
        shape, dtype = entry["shape"], entry["dtype"]
        numel = 1
        for d in shape:
            numel *= d
        if end > data_size:
            raise WeightsError(f"{path}: file is truncated: tensor {key!r} ends at byte {start + end} but the file "
                               f"has {size} bytes (re-download it)")
        if end - begin != numel * ITEMSIZE[dtype]:
            raise WeightsError(f"{path}: tensor {key!r} size does not match its shape {shape} and dtype {dtype}")
    return header, metadata, start
