"""A preset variant whose UNet keeps its MatMul, Gemm and Conv weights as int8 (weight-only quantization for CPU).

    /usr/bin/python3 -m models.export.quantize --preset models/shapes --out /tmp/shapes-int8 [--name N] [--no-conv]

Each float32 weight initializer that feeds only the weight input of MatMul, Gemm or Conv nodes is stored as int8
with one float32 scale per output channel (symmetric: zero point 0, scale = max |w| / 127 over the channel), and a
DequantizeLinear node in front of its consumers gives them float32 weights back, so the ops, their inputs, outputs
and the model contract are unchanged; every weight moves by at most half its channel's scale. Written with the
`onnx` package alone, as onnxruntime's Python quantizer cannot be installed on this repository's machines.

The variant is a copy of the preset folder with the UNet replaced (`unet_int8.onnx`) and preset.json renamed and
re-hashed. Where the preset has PyTorch twins (the shapes preset), the UNet twin gets the same dequantized weights,
so the reference pipeline, the benchmark's baseline and `npm run report:shapes -- --preset <variant>` run the
quantized UNet too; the base UNet from before stage `tune` and the adapter comparisons are left out of the variant.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

import numpy as np
import onnx
from onnx import helper, numpy_helper

if TYPE_CHECKING:  # torch is imported only where a preset has PyTorch twins
    import torch

# The op types whose weight input (index 1) can be quantized, and which axis of that weight holds its output channels.
WEIGHT_OPS = ("MatMul", "Gemm", "Conv")
QMAX = 127
TWO_GB = 2 ** 31
# What a variant must not inherit: records and weights that describe the float UNet, not the quantized one.
FLOAT_RECORDS = {"torch-outputs.json", "parity.json", "REPORT.md", "report", "build.json"}


def quantize_per_channel(weight: np.ndarray, axis: int) -> Tuple[np.ndarray, np.ndarray]:
    """int8 values and float32 scales, one per index of `axis`, with weight ≈ q · scale (symmetric, zero point 0)."""
    channels = np.moveaxis(weight.astype(np.float32), axis, 0).reshape(weight.shape[axis], -1)
    peak = np.abs(channels).max(axis=1)
    # A channel of zeros has no range to share out; any positive scale maps it to zeros.
    scale = np.where(peak > 0, peak / np.float32(QMAX), np.float32(1)).astype(np.float32)
    q = np.clip(np.rint(channels / scale[:, None]), -QMAX, QMAX).astype(np.int8)
    return np.moveaxis(q.reshape(np.moveaxis(weight, axis, 0).shape), 0, axis), scale


def dequantize(q: np.ndarray, scale: np.ndarray, axis: int) -> np.ndarray:
    """What DequantizeLinear computes for a per-axis int8 tensor with zero point 0: q · scale, in float32."""
    shape = [1] * q.ndim
    shape[axis] = -1
    return q.astype(np.float32) * scale.reshape(shape)


def _weight_axis(node: onnx.NodeProto, index: int, rank: int) -> Optional[int]:
    """The output-channel axis of input `index` of `node` if it is a quantizable weight, else None."""
    if index != 1 or node.domain not in ("", "ai.onnx") or node.op_type not in WEIGHT_OPS:
        return None
    if node.op_type == "MatMul":
        return 1 if rank == 2 else None  # [K, N]: column n makes output feature n
    if node.op_type == "Gemm":
        trans_b = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "transB"), 0)
        return (0 if trans_b else 1) if rank == 2 else None
    return 0 if rank >= 3 else None  # Conv [out channels, in channels / group, *kernel]


def _channel_key(values: np.ndarray) -> bytes:
    return hashlib.sha256(np.ascontiguousarray(values, dtype=np.float32).tobytes()).digest()


@dataclass
class Quantized:
    """What quantize_weights changed: counts for the record and, per output channel, its float values' digest → its
    dequantized values, which is how the PyTorch twin's channels are found whatever layout or slicing the export used."""
    tensors: int = 0
    float_bytes: int = 0
    int8_bytes: int = 0
    max_error: float = 0.0
    channels: Dict[bytes, np.ndarray] = field(default_factory=dict)


def quantize_weights(model: onnx.ModelProto, op_types=WEIGHT_OPS) -> Quantized:
    """Rewrites `model` in place: float32 weight initializers of `op_types` become int8 + per-channel DequantizeLinear."""
    opset = next((entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")), 0)
    if opset < 13:
        raise ValueError(f"per-channel DequantizeLinear needs opset 13 or later; the model has opset {opset}")
    graph = model.graph
    consumers: Dict[str, List[Tuple[onnx.NodeProto, int]]] = {}
    for node in graph.node:
        for index, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node, index))
    graph_inputs = {value.name for value in graph.input}
    done = Quantized()
    kept, dequantizers = [], []
    for tensor in graph.initializer:
        uses = consumers.get(tensor.name, [])
        axes = {(_weight_axis(node, index, len(tensor.dims)) if node.op_type in op_types else None) for node, index in uses}
        # A weight also read elsewhere (or overridable as a graph input, or read along two different axes) stays float.
        if tensor.data_type != onnx.TensorProto.FLOAT or tensor.name in graph_inputs or not uses or len(axes) != 1 or None in axes:
            kept.append(tensor)
            continue
        (axis,) = axes
        weight = numpy_helper.to_array(tensor)
        q, scale = quantize_per_channel(weight, axis)
        restored = dequantize(q, scale, axis)
        done.max_error = max(done.max_error, float((np.abs(restored - weight) / scale.reshape([-1 if i == axis else 1 for i in range(weight.ndim)])).max()))
        for original, dequantized in zip(np.moveaxis(weight, axis, 0), np.moveaxis(restored, axis, 0)):
            done.channels[_channel_key(original)] = np.ascontiguousarray(dequantized)
        names = [f"{tensor.name}_int8", f"{tensor.name}_scale", f"{tensor.name}_zero_point", f"{tensor.name}_dequantized"]
        kept += [numpy_helper.from_array(q, names[0]), numpy_helper.from_array(scale, names[1]), numpy_helper.from_array(np.zeros(scale.shape, np.int8), names[2])]
        dequantizers.append(helper.make_node("DequantizeLinear", names[:3], [names[3]], name=names[3], axis=axis))
        for node, index in uses:
            node.input[index] = names[3]
        done.tensors += 1
        done.float_bytes += weight.nbytes
        done.int8_bytes += q.nbytes + scale.nbytes + scale.size
    del graph.initializer[:]
    graph.initializer.extend(kept)
    # Constant weights first: a node list stays in topological order with the dequantizers ahead of every consumer.
    nodes = dequantizers + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return done


def dequantize_twin(state: Dict[str, torch.Tensor], channels: Dict[bytes, np.ndarray]) -> int:
    """Gives the PyTorch twin's weights the graph's dequantized values, channel by channel (dim 0 of a torch weight is
    its output channel, as a Linear's row is a MatMul weight's column); returns how many of `channels` it found."""
    import torch

    found = set()
    for name, tensor in state.items():
        if tensor.dtype != torch.float32 or tensor.dim() < 2:
            continue
        rows = tensor.detach().cpu().numpy().reshape(tensor.shape[0], -1).copy()
        hits = 0
        for i, row in enumerate(rows):
            key = _channel_key(row)
            if key in channels:
                rows[i] = channels[key].reshape(-1)
                found.add(key)
                hits += 1
        if hits:
            state[name] = torch.from_numpy(rows.reshape(tuple(tensor.shape)))
    return len(found)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_variant(preset: Path, out: Path, name: Optional[str] = None, conv: bool = True) -> dict:
    """Writes the int8-UNet variant of `preset` to `out`, a folder that must not exist yet; returns the quantization record."""
    config = json.loads((preset / "preset.json").read_text())
    unet_path = preset / config["files"]["unet"]["path"]
    if out.exists():
        raise FileExistsError(f"{out} exists; the variant is written to a new folder")
    graph_only = onnx.load(str(unet_path), load_external_data=False)
    external_files = {entry.value for tensor in graph_only.graph.initializer for entry in tensor.external_data if entry.key == "location"}
    model = onnx.load(str(unet_path))
    op_types = WEIGHT_OPS if conv else ("MatMul", "Gemm")
    done = quantize_weights(model, op_types)
    if done.tensors == 0:
        raise ValueError(f"{unet_path} has no float32 {', '.join(op_types)} weights to quantize")
    if model.ByteSize() >= TWO_GB:
        raise ValueError("the quantized UNet is still over 2 GB; a single-file graph cannot hold it")

    unet_file = unet_path.parent.relative_to(preset) / "unet_int8.onnx"
    out.mkdir(parents=True)
    for entry in preset.iterdir():
        if entry.name not in FLOAT_RECORDS and entry.name != "torch":
            (shutil.copytree if entry.is_dir() else shutil.copy2)(entry, out / entry.name)
    # The float UNet and its external weight files, copied with their folder, are what the variant replaces.
    for replaced in [config["files"]["unet"]["path"], *(unet_file.parent / location for location in external_files)]:
        (out / replaced).unlink(missing_ok=True)
    onnx.save(model, str(out / unet_file))

    record = {
        "tool": "models/export/quantize.py",
        "method": "weight-only int8, symmetric, one scale per output channel, DequantizeLinear before each op",
        "ops": list(op_types),
        "source": {"path": config["files"]["unet"]["path"], "sha256": config["files"]["unet"]["sha256"]},
        "tensors": done.tensors,
        "floatBytes": done.float_bytes,
        "int8Bytes": done.int8_bytes,
        "maxErrorInScales": round(done.max_error, 6),
    }
    twin = preset / "torch" / "unet.pt"
    if twin.exists():
        record["torchTwinChannels"] = _write_twins(preset, out, done.channels)

    config["name"] = name or f"{config['name']}-int8"
    config["title"] = f"{config['title']} with int8 UNet weights"
    config["description"] = (f"{config['description']} This variant stores its UNet's {', '.join(op_types)} weights as int8 with "
                             f"per-channel scales (models/export/quantize.py).")
    config["files"]["unet"] = {"path": unet_file.as_posix(), "sha256": _sha256(out / unet_file)}
    provenance = config.setdefault("provenance", {})
    hashes = provenance.get("fileHashes")
    if isinstance(hashes, dict):
        # The float UNet's external weight files are not part of the variant; the int8 graph holds its weights itself.
        provenance["fileHashes"] = {path: sha for path, sha in hashes.items() if (out / path).exists()}
    provenance["quantization"] = record
    (out / "preset.json").write_text(json.dumps(config, indent=2) + "\n")
    return record


def _write_twins(preset: Path, out: Path, channels: Dict[bytes, np.ndarray]) -> int:
    """Copies the PyTorch twins the pipeline loads, the UNet's with the graph's dequantized weights."""
    import torch

    (out / "torch").mkdir(parents=True, exist_ok=True)
    for twin in sorted((preset / "torch").glob("*.pt")):
        if not twin.name.startswith("unet"):
            shutil.copy2(twin, out / "torch" / twin.name)
    saved = torch.load(preset / "torch" / "unet.pt")
    found = dequantize_twin(saved["ema"], channels)
    if found < len(channels):
        raise ValueError(f"the UNet twin holds {found} of the {len(channels)} quantized channels; it would not compute what the graph does")
    torch.save(saved, out / "torch" / "unet.pt")
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", type=Path, required=True, help="the preset folder to start from")
    parser.add_argument("--out", type=Path, required=True, help="a new folder for the variant")
    parser.add_argument("--name", help="the variant's preset name (default: <name>-int8)")
    parser.add_argument("--no-conv", action="store_true", help="quantize MatMul and Gemm weights only, keeping Conv weights float32")
    args = parser.parse_args(argv)
    record = write_variant(args.preset.resolve(), args.out.resolve(), args.name, conv=not args.no_conv)
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
