"""FLOP counting (models/export/flops.py) on a hand-built graph whose FLOPs are worked out by hand below,
and on the shapes preset's graphs that `npm run bench` counts."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from models.export import flops
from models.export.flops import FlopsError, graph_flops

SHAPES = Path(__file__).resolve().parents[2] / "shapes"


def weight(name, *dims):
    return numpy_helper.from_array(np.zeros(dims, np.float32), name)


def ints(name, values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


def hand_built() -> onnx.ModelProto:
    """Convolutions on x [batch, 3, 8, 8], a MatMul after a reshape, a Gemm fed through torch's `expand(batch)`
    chain (which onnx's own shape propagation cannot follow) and a fused attention feeding a MatMul."""
    nodes = [
        helper.make_node("Conv", ["x", "w_conv"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["c1", "w_group"], ["c2"], group=2),
        helper.make_node("ConvTranspose", ["c2", "w_up"], ["up"], strides=[2, 2]),
        helper.make_node("Reshape", ["up", "flat_shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w_mm"], ["mm"]),
        # t [1] expanded to [batch] the way torch.onnx writes `t.expand(x.shape[0])`.
        helper.make_node("Shape", ["x"], ["x_shape"]),
        helper.make_node("Slice", ["x_shape", "zero", "one"], ["batch"]),
        helper.make_node("Shape", ["batch"], ["batch_rank"]),
        helper.make_node("ConstantOfShape", ["batch_rank"], ["ones"], value=numpy_helper.from_array(np.array([1], np.int64))),
        helper.make_node("Mul", ["ones", "minus_one"], ["minus_ones"]),
        helper.make_node("Equal", ["batch", "minus_ones"], ["is_free"]),
        helper.make_node("Where", ["is_free", "ones", "batch"], ["target"]),
        helper.make_node("Expand", ["t", "target"], ["t_batch"]),
        helper.make_node("Unsqueeze", ["t_batch", "zero"], ["t_row"]),
        helper.make_node("Gemm", ["t_row", "w_gemm"], ["g"], transA=1),
        helper.make_node("MultiHeadAttention", ["q", "k", "v"], ["attended"], domain="com.microsoft", num_heads=2),
        helper.make_node("MatMul", ["attended", "w_out"], ["out"]),
    ]
    initializers = [
        weight("w_conv", 4, 3, 3, 3), weight("w_group", 4, 2, 1, 1), weight("w_up", 4, 2, 2, 2), weight("w_mm", 256, 5),
        weight("w_gemm", 1, 3), weight("w_out", 6, 3), ints("flat_shape", [0, 2, 256]), ints("zero", [0]), ints("one", [1]),
        ints("minus_one", [-1]),
    ]
    inputs = [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8]),
        helper.make_tensor_value_info("t", TensorProto.FLOAT, [1]),
        helper.make_tensor_value_info("q", TensorProto.FLOAT, ["batch", 5, 8]),
        helper.make_tensor_value_info("k", TensorProto.FLOAT, ["batch", 7, 8]),
        helper.make_tensor_value_info("v", TensorProto.FLOAT, ["batch", 7, 6]),
    ]
    outputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in ("mm", "g", "out")]
    graph = helper.make_graph(nodes, "hand_built", inputs, outputs, initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])


SIZES = {"x": [2, 3, 8, 8], "q": [2, 5, 8], "k": [2, 7, 8], "v": [2, 7, 6]}
# By hand, two FLOPs per multiply-add:
CONV = 2 * (2 * 4 * 8 * 8) * (3 * 3 * 3)  # 512 outputs, each over 3 channels × a 3×3 kernel
GROUPED = 2 * (2 * 4 * 8 * 8) * 2  # group 2: each output sums 4 / 2 input channels
TRANSPOSED = 2 * (2 * 4 * 8 * 8) * (2 * 2 * 2)  # each of 512 inputs scattered to 2 channels × a 2×2 kernel: out [2, 2, 16, 16]
MATMUL = 2 * (2 * 2 * 5) * 256  # [2, 2, 256] × [256, 5]
GEMM = 2 * (2 * 3) * 1  # t_row [1, 2] transposed to [2, 1], × [1, 3]
ATTENTION = 2 * 2 * 5 * 7 * (8 + 6)  # Q·Kᵀ over 5 × 7 tokens of width 8, then × V of width 6, batch 2
AFTER_ATTENTION = 2 * (2 * 5 * 3) * 6  # attended [2, 5, 6] × [6, 3]


def test_counts_each_op_of_a_hand_built_graph_as_worked_out_by_hand():
    assert graph_flops(hand_built(), SIZES) == {
        "Conv": CONV + GROUPED,
        "ConvTranspose": TRANSPOSED,
        "MatMul": MATMUL + AFTER_ATTENTION,
        "Gemm": GEMM,
        "MultiHeadAttention": ATTENTION,
    }


def test_scales_with_the_batch_given_and_leaves_the_model_unchanged():
    model = hand_built()
    before = model.SerializeToString()
    double = {name: [4, *dims[1:]] for name, dims in SIZES.items()}
    assert sum(graph_flops(model, double).values()) == 2 * sum(graph_flops(model, SIZES).values())
    assert model.SerializeToString() == before


def test_refuses_unknown_inputs_wrong_ranks_and_shapes_it_cannot_infer():
    with pytest.raises(FlopsError, match="no input"):
        graph_flops(hand_built(), {**SIZES, "y": [1]})
    with pytest.raises(FlopsError, match="rank 4"):
        graph_flops(hand_built(), {**SIZES, "x": [2, 3, 8]})
    # With the batch left symbolic the MatMul's output size is unknown: an error, never a silent undercount.
    with pytest.raises(FlopsError, match="unknown after shape inference"):
        graph_flops(hand_built(), {"q": [2, 5, 8], "k": [2, 7, 8], "v": [2, 7, 6]})


def test_the_command_answers_a_list_of_requests_in_order(tmp_path, monkeypatch, capsys):
    path = tmp_path / "hand.onnx"
    onnx.save(hand_built(), str(path))
    requests = [{"file": str(path), "inputs": SIZES}, {"file": str(path), "inputs": {name: [1, *dims[1:]] for name, dims in SIZES.items()}}]
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(requests)))
    assert flops.main() == 0
    first, second = json.loads(capsys.readouterr().out)
    assert first["flops"] == CONV + GROUPED + TRANSPOSED + MATMUL + GEMM + ATTENTION + AFTER_ATTENTION
    assert second["flops"] * 2 == first["flops"]


@pytest.mark.parametrize("name, sizes", [
    ("unet.onnx", {"sample": [1, 4, 16, 16], "encoder_hidden_states": [1, 77, 64], "class_labels": [1, 128]}),
    ("vae_decoder.onnx", {"latent_sample": [1, 4, 16, 16]}),
    ("clip_text.onnx", {"input_ids": [1, 77]}),
    ("prompt_encoder.onnx", {"input_ids": [1, 77]}),
    ("adapter_text.onnx", {"embedding": [1, 64]}),
])
def test_counts_every_shapes_graph_the_bench_runs_in_proportion_to_its_batch(name, sizes):
    model = onnx.load(str(SHAPES / name))
    one = sum(graph_flops(model, sizes).values())
    three = sum(graph_flops(model, {key: [3, *dims[1:]] for key, dims in sizes.items()}).values())
    assert one > 0 and three == 3 * one
