"""Reading weight files: safetensors memory-mapped without a copy, legacy PyTorch files safely.

``load_file(path) -> (state_dict, metadata)``. For safetensors the header is parsed here and every
tensor is a view into one private (copy-on-write) memory map of the file: loading costs no RAM until
pages are touched, and converting to the target dtype/device later makes the only copy.
``.ckpt``/``.pt``/``.pth``/``.bin`` go through ``torch.load(weights_only=True, mmap=True)``, which
refuses pickles that would run code. Anything else is refused with an error naming the file.
"""
from __future__ import annotations

import logging
import pickle
import zipfile
from pathlib import Path

import torch

# the header is parsed without torch (shared with the server's /view_metadata)
from core.models.safetensors_header import (MAX_HEADER_BYTES, WeightsError,  # noqa: F401
                                            read_safetensors_header)

log = logging.getLogger(__name__)

SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool, "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
}


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
