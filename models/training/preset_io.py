"""Reading and writing a preset folder (see docs/model-contract.md): preset.json and file hashes."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Dict

import torch

OPSET = 17


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load(preset: Path) -> Dict[str, Any]:
    path = preset / "preset.json"
    return json.loads(path.read_text()) if path.exists() else {}


def save(preset: Path, config: Dict[str, Any]) -> None:
    preset.mkdir(parents=True, exist_ok=True)
    (preset / "preset.json").write_text(json.dumps(config, indent=2) + "\n")


def file_entry(preset: Path, relative: str) -> Dict[str, str]:
    return {"path": relative, "sha256": sha256(preset / relative)}


def floats(values, digits: int = 6) -> list:
    return [round(float(v), digits) for v in torch.as_tensor(values).reshape(-1).tolist()]


def export_onnx(module: torch.nn.Module, args: tuple, path: Path, inputs: list, outputs: list, dynamic_axes: Dict[str, Dict[int, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    module.eval()
    torch.onnx.export(
        module, args, str(path), input_names=inputs, output_names=outputs, dynamic_axes=dynamic_axes,
        opset_version=OPSET, do_constant_folding=True,
    )
