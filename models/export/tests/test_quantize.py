"""Weight-only int8 quantization (models/export/quantize.py): the error bound of each weight, the graph rewrite on a
small hand-built graph run through onnxruntime, and the shapes preset's int8 variant with its PyTorch twin."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from models.export.onnx_runner import run_onnx
from models.export.quantize import QMAX, dequantize, quantize_per_channel, quantize_weights, write_variant
from models.training import train_unet

REPO = Path(__file__).resolve().parents[3]
SHAPES = REPO / "models" / "shapes"
TSX = REPO / "node_modules" / ".bin" / "tsx"


def test_each_weight_moves_by_at_most_half_its_channels_scale():
    rng = np.random.default_rng(0)
    # Channels of very different ranges along axis 1, one of them all zeros.
    weight = (rng.standard_normal((6, 5, 3)) * np.array([1e-3, 0.1, 1.0, 30.0, 0.0])[None, :, None]).astype(np.float32)
    q, scale = quantize_per_channel(weight, axis=1)
    assert q.dtype == np.int8 and q.shape == weight.shape and scale.shape == (5,)
    restored = dequantize(q, scale, axis=1)
    bound = scale[None, :, None] / 2
    # Rounding to the nearest step leaves at most half a step, plus float32's own rounding of q · scale.
    assert np.all(np.abs(restored - weight) <= bound * (1 + 1e-6) + 1e-12)
    assert np.abs(q).max() <= QMAX
    # Every non-zero channel spans the full int8 range, so no resolution is wasted on it.
    assert [int(np.abs(np.take(q, c, axis=1)).max()) for c in range(5)] == [QMAX] * 4 + [0]
    assert np.all(restored[:, 4] == 0)


def _graph() -> onnx.ModelProto:
    """x [2, 3, 6, 6] through a Conv, a MatMul and two Gemms, with weights that must stay float beside ones that must not."""
    rng = np.random.default_rng(1)

    def weight(name, *dims):
        return numpy_helper.from_array(rng.standard_normal(dims).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w_conv", "b_conv"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Flatten", ["c"], ["flat"]),  # [2, 4·6·6 = 144]
        helper.make_node("MatMul", ["flat", "w_mm"], ["m"]),  # [144, 8]
        helper.make_node("Gemm", ["m", "w_gemm_t"], ["g1"], transB=1),  # B [8, 8] read transposed
        helper.make_node("Gemm", ["g1", "w_shared"], ["g2"]),  # w_shared also feeds the next MatMul
        helper.make_node("MatMul", ["g2", "w_shared"], ["g3"]),
        helper.make_node("Mul", ["w_also_read", "w_also_read"], ["squared"]),  # a weight a Mul reads too stays float
        helper.make_node("MatMul", ["g3", "squared"], ["g4"]),
        helper.make_node("MatMul", ["g4", "w_also_read"], ["g5"]),
        helper.make_node("MatMul", ["g5", "w_input"], ["y"]),  # an initializer that is also a graph input stays float
    ]
    initializers = [weight("w_conv", 4, 3, 3, 3), weight("b_conv", 4), weight("w_mm", 144, 8), weight("w_gemm_t", 8, 8),
                    weight("w_shared", 8, 8), weight("w_also_read", 8, 8), weight("w_input", 8, 2)]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 6, 6]), helper.make_tensor_value_info("w_input", TensorProto.FLOAT, [8, 2])]
    graph = helper.make_graph(nodes, "weights", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_rewrites_only_weights_every_consumer_reads_as_a_weight_with_the_right_channel_axis():
    model = _graph()
    done = quantize_weights(model)
    onnx.checker.check_model(model)
    initializers = {tensor.name: numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
    dequantizers = {node.input[0]: node for node in model.graph.node if node.op_type == "DequantizeLinear"}
    axes = {name: helper.get_attribute_value(node.attribute[0]) for name, node in dequantizers.items()}
    # Conv: output channels first; MatMul [K, N]: columns; Gemm with transB: rows of B; shared by Gemm and MatMul: columns.
    assert axes == {"w_conv_int8": 0, "w_mm_int8": 1, "w_gemm_t_int8": 0, "w_shared_int8": 1}
    assert done.tensors == 4
    assert {"b_conv", "w_also_read", "w_input"} <= set(initializers) and "w_conv" not in initializers
    assert initializers["w_mm_int8"].dtype == np.int8 and initializers["w_mm_scale"].shape == (8,)
    # One dequantizer for the shared weight, read by both of its consumers; the dequantizers come before every consumer.
    assert [list(node.input)[1] for node in model.graph.node if node.op_type in ("Gemm", "MatMul")][1:4] == ["w_gemm_t_dequantized", "w_shared_dequantized", "w_shared_dequantized"]
    assert [node.op_type for node in model.graph.node][:4] == ["DequantizeLinear"] * 4
    assert done.max_error <= 0.5 + 1e-6


def restored(original: onnx.ModelProto, quantized: onnx.ModelProto) -> onnx.ModelProto:
    """`original` with each weight that `quantized` holds as int8 replaced by its dequantized float32 values: what the
    int8 graph means by the ONNX definition of DequantizeLinear, as a graph of plain float ops."""
    model = onnx.ModelProto()
    model.CopyFrom(original)
    weights = {tensor.name: numpy_helper.to_array(tensor) for tensor in quantized.graph.initializer}
    axes = {node.input[0]: helper.get_attribute_value(node.attribute[0]) for node in quantized.graph.node if node.op_type == "DequantizeLinear"}
    for tensor in model.graph.initializer:
        if f"{tensor.name}_int8" in weights:
            values = dequantize(weights[f"{tensor.name}_int8"], weights[f"{tensor.name}_scale"], axes[f"{tensor.name}_int8"])
            tensor.CopyFrom(numpy_helper.from_array(values, tensor.name))
    return model


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float((actual - expected).abs().max() / expected.abs().max())


def test_the_int8_graph_computes_with_the_dequantized_weights_on_onnxruntime(tmp_path):
    original, quantized = _graph(), _graph()
    quantize_weights(quantized)
    for name, model in (("float", original), ("int8", quantized), ("restored", restored(original, quantized))):
        onnx.save(model, str(tmp_path / f"{name}.onnx"))
    feeds = {"x": torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(2)), "w_input": torch.randn(8, 2, generator=torch.Generator().manual_seed(3))}
    outputs = {name: run_onnx(tmp_path / f"{name}.onnx", feeds)["y"] for name in ("float", "int8", "restored")}
    # onnxruntime fuses a per-channel DequantizeLinear → MatMul into MatMulNBits, which also rounds the MatMul's
    # activations to int8 (its default accuracy level 4): within 1 % of the dequantized-float graph, not to float rounding.
    assert relative_error(outputs["int8"], outputs["restored"]) < 1e-2
    # Against the float graph the weights' quantization error adds to it: small next to the outputs, not zero.
    assert 0 < relative_error(outputs["int8"], outputs["float"]) < 5e-2


@pytest.fixture(scope="module")
def variant(tmp_path_factory):
    out = tmp_path_factory.mktemp("int8") / "shapes-int8"
    return out, write_variant(SHAPES, out)


def test_the_shapes_variant_passes_the_engines_checks_and_drops_what_describes_the_float_unet(variant):
    out, record = variant
    config = json.loads((out / "preset.json").read_text())
    assert config["name"] == "shapes-int8" and config["files"]["unet"]["path"] == "unet_int8.onnx"
    assert config["provenance"]["quantization"] == record and record["tensors"] > 0 and record["int8Bytes"] * 3 < record["floatBytes"]
    for absent in ("unet.onnx", "torch-outputs.json", "parity.json", "REPORT.md", "report", "build.json", "torch/unet_base.pt", "torch/comparison"):
        assert not (out / absent).exists(), absent
    done = subprocess.run([str(TSX), str(Path(__file__).with_name("check_preset.ts")), str(out)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    check = json.loads(done.stdout)
    assert check["schemaIssues"] == [] and check["hashMismatches"] == []
    assert all("problem" not in model for model in check["models"].values()), check["models"]


def test_the_variants_torch_twin_computes_what_its_int8_graph_computes(variant, tmp_path):
    out, record = variant
    parity = json.loads((SHAPES / "torch-outputs.json").read_text())["unet"]
    sample = torch.tensor(parity["sample"]).reshape(1, 4, 16, 16)
    hidden = torch.tensor(parity["encoder_hidden_states"]).reshape(1, 77, -1)
    labels = torch.tensor(parity["class_labels"]).reshape(1, -1)
    timestep = torch.tensor([parity["timestep"]], dtype=torch.int64)
    feeds = {"sample": sample, "timestep": timestep, "encoder_hidden_states": hidden, "class_labels": labels}
    onnx.save(restored(onnx.load(str(SHAPES / "unet.onnx")), onnx.load(str(out / "unet_int8.onnx"))), str(tmp_path / "restored.onnx"))
    meant = run_onnx(tmp_path / "restored.onnx", feeds)["out_sample"]
    graph = run_onnx(out / "unet_int8.onnx", feeds)["out_sample"]
    twin, _ = train_unet.load(out / "torch")
    with torch.no_grad():
        twin_out = twin(sample, timestep, hidden, labels)
    float_out = torch.tensor(parity["out_sample"]).reshape(1, 4, 16, 16)
    assert record["torchTwinChannels"] > 0
    # The twin holds exactly the dequantized weights: it matches the graph's meaning to float32 summation order, as the
    # float twin matches the float graph (the engine's parity tests allow 1e-3).
    assert (meant - twin_out).abs().max() < 1e-4
    # onnxruntime's own run also rounds the activations of the MatMuls it fuses into MatMulNBits (see above).
    assert relative_error(graph, meant) < 1e-2
    # Both moved away from the float UNet by the quantization error.
    assert (twin_out - float_out).abs().max() > 1e-4


def test_refuses_to_write_over_an_existing_folder(tmp_path):
    with pytest.raises(FileExistsError):
        write_variant(SHAPES, tmp_path)
