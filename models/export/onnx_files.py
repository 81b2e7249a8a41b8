"""Writing one ONNX graph into a preset folder, as one file or with its weights as external data."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Dict, List, Sequence

import onnx
import torch

from models.training.preset_io import OPSET

# protobuf cannot serialise a message over 2 GiB; the fp32 UNet (≈ 3.5 GB) and the fp32 ViT-H image
# tower (≈ 2.5 GB) are over it.
PROTOBUF_LIMIT_BYTES = 2**31


def parameter_bytes(module: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in list(module.parameters()) + list(module.buffers()))


def external_data_name(filename: str) -> str:
    return f"{filename}.data"


def export_graph(module: torch.nn.Module, args: Sequence[torch.Tensor], folder: Path, filename: str, inputs: List[str], outputs: List[str],
                 dynamic_axes: Dict[str, Dict[int, str]], external_data_threshold: int = PROTOBUF_LIMIT_BYTES) -> List[str]:
    """Exports `module` to folder/filename; returns the files written (relative names).

    Weights go to `filename.data` when the module's parameters reach `external_data_threshold`
    bytes. torch writes one file per tensor for a graph that large, so the graph is exported into a
    scratch folder first, then loaded and saved again with all its weights in one data file.
    """
    module.eval()
    external = parameter_bytes(module) >= external_data_threshold
    with tempfile.TemporaryDirectory(prefix="penumbra-export-", dir=folder) as scratch:
        scratch_file = Path(scratch) / filename
        with torch.no_grad():
            torch.onnx.export(module, tuple(args), str(scratch_file), input_names=inputs, output_names=outputs, dynamic_axes=dynamic_axes,
                              opset_version=OPSET, do_constant_folding=True)
        model = onnx.load(str(scratch_file))  # also reads any per-tensor files torch wrote beside it
        target = folder / filename
        data_name = external_data_name(filename)
        for stale in (target, folder / data_name):
            stale.unlink(missing_ok=True)  # onnx appends to an existing data file
        if external:
            onnx.save_model(model, str(target), save_as_external_data=True, all_tensors_to_one_file=True, location=data_name, size_threshold=1024)
        else:
            onnx.save_model(model, str(target))
    onnx.checker.check_model(str(target))  # by path, so external data is checked too
    return [filename, data_name] if (folder / data_name).exists() else [filename]
