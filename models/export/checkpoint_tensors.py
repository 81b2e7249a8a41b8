"""Reading one tensor of a `torch.save` checkpoint without loading the others.

torch.save writes a zip archive: `<folder>/data.pkl` pickles the state dict with each tensor's
storage referred to by a key, and `<folder>/data/<key>` holds that storage's bytes. Unpickling with
stand-ins for the storages and tensors costs only the pickle (kilobytes); then the one storage the
wanted tensor uses is read from the archive. torch 1.13's `torch.load` has no lazy (mmap) mode, so
reading ViT-H's visual projection this way avoids materialising its ≈ 3.9 GB checkpoint.

Only the classes a state dict needs are accepted from the pickle, so a checkpoint cannot run code.
"""
from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import torch

# torch's legacy storage classes, as the pickle names them, and their element types.
STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16, "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64, "IntStorage": torch.int32, "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


class NotATorchZip(ValueError):
    """The file is not in torch.save's zip format (the pre-1.6 format cannot be read lazily)."""


@dataclass(frozen=True)
class _StorageType:
    dtype: torch.dtype


@dataclass(frozen=True)
class _StorageRef:
    dtype: torch.dtype
    key: str


@dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    size: Tuple[int, ...]
    stride: Tuple[int, ...]


def _rebuild_tensor(storage, offset, size, stride, *unused):
    return _TensorRef(storage, int(offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, *unused):
    return data


class _LazyUnpickler(pickle.Unpickler):
    ALLOWED = {("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_parameter")}

    def find_class(self, module, name):
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(STORAGE_DTYPES[name])
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"a state dict has no {module}.{name}; refusing to unpickle it")
        if name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if name == "_rebuild_parameter":
            return _rebuild_parameter
        return super().find_class(module, name)

    def persistent_load(self, pid):
        kind, storage_type, key = pid[0], pid[1], pid[2]
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        return _StorageRef(storage_type.dtype, str(key))


def read_tensor(path: Path, name: str) -> Optional[torch.Tensor]:
    """The tensor `name` of the state dict saved in `path`, or None when it has no such entry."""
    if not zipfile.is_zipfile(path):
        raise NotATorchZip(f"{path} is not a torch.save zip archive")
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise NotATorchZip(f"{path} has {len(pickles)} data.pkl entries, expected 1")
        folder = pickles[0][: -len("data.pkl")]
        with archive.open(pickles[0]) as f:
            state = _LazyUnpickler(f).load()
        ref = state.get(name)
        if ref is None:
            return None
        data = bytearray(archive.read(f"{folder}data/{ref.storage.key}"))
    flat = torch.frombuffer(data, dtype=ref.storage.dtype) if data else torch.empty(0, dtype=ref.storage.dtype)
    return flat.as_strided(ref.size, ref.stride, ref.offset).clone()
