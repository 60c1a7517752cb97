"""Reading weight files: safetensors memory-mapped without a copy, legacy PyTorch files safely.

``load_file(path) -> (state_dict, metadata)``. For safetensors the header is parsed here and every
tensor is a view into one private (copy-on-write) memory map of the file: loading costs no RAM until
pages are touched, and converting to the target dtype/device later makes the only copy.
``.ckpt``/``.pt``/``.pth``/``.bin`` go through ``torch.load(weights_only=True, mmap=True)``, which
refuses pickles that would run code. Anything else is refused with an error naming the file.
"""
from __future__ import annotations

import json
import logging
import pickle
import struct
import zipfile
from pathlib import Path

import torch

log = logging.getLogger(__name__)

SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool, "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
}
MAX_HEADER_BYTES = 100 * 2**20


class WeightsError(ValueError):
    """A weight file could not be read; the message names the file and the reason."""


def read_safetensors_header(path: Path) -> tuple[dict, dict, int]:
    """(tensor entries, __metadata__, offset of the data section); validates against the file size."""
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
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WeightsError(f"{path}: safetensors header is not valid JSON ({e})") from e
    if not isinstance(header, dict):
        raise WeightsError(f"{path}: safetensors header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    start = 8 + n
    data_size = size - start
    for key, entry in header.items():
        try:
            begin, end = entry["data_offsets"]
            dtype = entry["dtype"]
            shape = entry["shape"]
        except (TypeError, KeyError, ValueError) as e:
            raise WeightsError(f"{path}: malformed safetensors entry for {key!r}") from e
        if dtype not in SAFETENSORS_DTYPES:
            raise WeightsError(f"{path}: tensor {key!r} has unsupported dtype {dtype}")
        numel = 1
        for d in shape:
            numel *= d
        if end > data_size:
            raise WeightsError(f"{path}: file is truncated: tensor {key!r} ends at byte {start + end} but the file "
                               f"has {size} bytes (re-download it)")
        if end - begin != numel * SAFETENSORS_DTYPES[dtype].itemsize or begin < 0:
            raise WeightsError(f"{path}: tensor {key!r} size does not match its shape {shape} and dtype {dtype}")
    return header, metadata, start


def load_safetensors(path: Path) -> tuple[dict, dict]:
    header, metadata, start = read_safetensors_header(path)
    size = path.stat().st_size
    storage = torch.UntypedStorage.from_file(str(path), shared=False, nbytes=size)
    raw = torch.empty(0, dtype=torch.uint8).set_(storage, 0, (size,), (1,))
    sd = {}
    for key, entry in header.items():
        dtype = SAFETENSORS_DTYPES[entry["dtype"]]
        begin, end = entry["data_offsets"]
        offset = start + begin
        shape = tuple(entry["shape"])
        if offset % dtype.itemsize == 0:
            t = torch.empty(0, dtype=dtype).set_(storage, offset // dtype.itemsize, shape,
                                                 _contiguous_strides(shape))
        else:  # unaligned (old writers): one small copy for this tensor
            t = raw[offset:start + end].clone().view(dtype).reshape(shape)
        sd[key] = t
    return sd, {str(k): str(v) for k, v in metadata.items()}


def _contiguous_strides(shape: tuple) -> tuple:
    strides, acc = [], 1
    for d in reversed(shape):
        strides.append(acc)
        acc *= max(d, 1)
    return tuple(reversed(strides))


def load_torch_file(path: Path) -> dict:
    """Legacy pickle checkpoints, tensors only: code inside the pickle is refused."""
    def _load(mmap: bool):
        return torch.load(str(path), map_location="cpu", weights_only=True, mmap=mmap)

    try:
        try:
            obj = _load(mmap=True)
        except RuntimeError as e:  # pre-1.6 non-zip files cannot be memory-mapped
            if "mmap" not in str(e).lower() and "zip" not in str(e).lower():
                raise
            obj = _load(mmap=False)
    except pickle.UnpicklingError as e:
        raise WeightsError(f"{path}: refused to load: the pickle holds more than tensors (it would run code "
                           f"or build objects; only plain weight files are loaded). Convert it to .safetensors. "
                           f"Detail: {str(e).splitlines()[0]}") from e
    except (EOFError, zipfile.BadZipFile, RuntimeError) as e:
        raise WeightsError(f"{path}: cannot read this PyTorch checkpoint (truncated or corrupt): {e}") from e
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: checkpoint holds a {type(obj).__name__}, not a dict of tensors")
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def sniff(path: Path) -> str:
    """'safetensors', 'zip' (torch >= 1.6), 'pickle' (legacy torch), or 'unknown'."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5:
        return "pickle"
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    return "unknown"


def load_file(path) -> tuple[dict, dict]:
    """(state_dict of CPU tensors, metadata) of a weight file, whatever its supported format."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such file")
    kind = sniff(path)
    if kind == "safetensors":
        return load_safetensors(path)
    if kind in ("zip", "pickle"):
        return load_torch_file(path), {}
    suffix = path.suffix.lower()
    if suffix in (".safetensors", ".sft"):
        # the extension says safetensors but the bytes do not: let the parser name the problem
        return load_safetensors(path)
    raise WeightsError(f"{path}: not a model weight file (expected .safetensors, or a PyTorch .ckpt/.pt/.pth; "
                       f"the first bytes are {open(path, 'rb').read(8)!r})")


def save_safetensors(sd: dict, path, metadata: dict | None = None) -> Path:
    """Write a state dict as .safetensors (tensors made contiguous, string ``metadata`` in the header)."""
    from safetensors.torch import save_file

    path = Path(path)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path), metadata=metadata)
    return path
