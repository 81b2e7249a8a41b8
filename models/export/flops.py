"""Floating-point operations of an ONNX graph at given input sizes, from its shapes alone.

Counted: MatMul, Gemm, Conv, ConvTranspose and onnxruntime's fused MultiHeadAttention, two FLOPs per
multiply-add. Everything else (element-wise ops, normalizations, softmax, resizes) is left out, so the
count is a lower bound on the work; for the UNets and VAEs Penumbra runs those ops are a few percent of it.
The benchmark (`npm run bench`, scripts/bench.ts) divides it by a measured matmul rate to get a floor on
a grid's time.

    echo '[{"file": "models/shapes/unet.onnx", "inputs": {"sample": [8, 4, 16, 16], ...}}]' | \\
        /usr/bin/python3 -m models.export.flops

prints one JSON list with `{"flops": N, "byOp": {...}}` for each entry, in order.
"""
from __future__ import annotations

import json
import math
import sys
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference
from onnx.mapping import TENSOR_TYPE_TO_NP_TYPE

Shape = List[int]
FUSED_ATTENTION = ("com.microsoft", "MultiHeadAttention")
# Shape arithmetic worth folding: tensors up to this many elements (sizes, indices, flags), never weights.
SMALL = 64


class FlopsError(ValueError):
    pass


def _with_input_sizes(model: onnx.ModelProto, sizes: Mapping[str, Sequence[int]]) -> onnx.ModelProto:
    """A copy of `model` whose graph inputs have the concrete sizes given (symbolic ones such as `batch` replaced)."""
    sized = onnx.ModelProto()
    sized.CopyFrom(model)
    inputs = {value.name: value for value in sized.graph.input}
    unknown = sorted(set(sizes) - set(inputs))
    if unknown:
        raise FlopsError(f"the graph has no input(s) {', '.join(unknown)}")
    for name, dims in sizes.items():
        shape = inputs[name].type.tensor_type.shape
        if len(shape.dim) != len(dims):
            raise FlopsError(f"input {name} has rank {len(shape.dim)}, given {list(dims)}")
        for dim, size in zip(shape.dim, dims):
            dim.Clear()
            dim.dim_value = int(size)
    return sized


def _known_shapes(model: onnx.ModelProto) -> Dict[str, Shape]:
    """Every value whose shape is fully known (no symbolic or missing dims)."""
    shapes: Dict[str, Shape] = {tensor.name: list(tensor.dims) for tensor in model.graph.initializer}
    graph = model.graph
    for value in [*graph.input, *graph.value_info, *graph.output]:
        tensor_type = value.type.tensor_type
        if not tensor_type.HasField("shape"):
            continue
        dims = tensor_type.shape.dim
        if all(dim.HasField("dim_value") for dim in dims):
            shapes[value.name] = [dim.dim_value for dim in dims]
    for node in graph.node:
        if node.op_type == "Constant":
            for attribute in node.attribute:
                if attribute.name == "value":
                    shapes[node.output[0]] = list(attribute.t.dims)
    return shapes


def _attention_output(node: onnx.NodeProto, shapes: Mapping[str, Shape]) -> Optional[Shape]:
    """MultiHeadAttention's output from its [batch, tokens, hidden] query and value, which onnx cannot infer (a contrib op)."""
    if len(node.input) < 3 or any(name not in shapes for name in node.input[:3]):
        return None
    query, _, value = (shapes[name] for name in node.input[:3])
    if len(query) != 3 or len(value) != 3:
        raise FlopsError(f"{node.name or node.op_type}: only [batch, tokens, hidden] query, key and value are counted")
    return [query[0], query[1], value[2]]


def _attributes(node: onnx.NodeProto) -> Dict[str, object]:
    return {attribute.name: onnx.helper.get_attribute_value(attribute) for attribute in node.attribute}


def _raw_axes(args: List[Optional[np.ndarray]], attributes: Mapping[str, object]) -> Optional[List[int]]:
    """Unsqueeze / Squeeze axes: an input since opset 13, an attribute before; None when neither is given."""
    if len(args) > 1 and args[1] is not None:
        return [int(axis) for axis in np.asarray(args[1]).reshape(-1)]
    return list(attributes["axes"]) if "axes" in attributes else None


def _evaluate(node: onnx.NodeProto, args: List[Optional[np.ndarray]], shapes: Mapping[str, Shape]) -> Optional[np.ndarray]:
    """The value of a shape-arithmetic node whose inputs are known; None for ops this does not evaluate."""
    a = _attributes(node)
    op = node.op_type
    x = args[0] if args else None
    if op == "Constant":
        if "value" in a:
            return numpy_helper.to_array(a["value"])
        for key, dtype in (("value_int", np.int64), ("value_ints", np.int64), ("value_float", np.float32), ("value_floats", np.float32)):
            if key in a:
                return np.array(a[key], dtype=dtype)
        return None
    if op == "Shape":
        dims = shapes[node.input[0]]
        return np.array(dims[slice(a.get("start", 0), a.get("end"))], dtype=np.int64)
    if op == "Gather":
        return np.take(x, args[1], axis=a.get("axis", 0))
    if op == "Unsqueeze":
        axes = _raw_axes(args, a) or []
        rank = x.ndim + len(axes)
        for axis in sorted(axis % rank for axis in axes):
            x = np.expand_dims(x, axis)
        return x
    if op == "Squeeze":
        axes = _raw_axes(args, a)
        return np.squeeze(x) if axes is None else np.squeeze(x, axis=tuple(axis % x.ndim for axis in axes))
    if op == "Concat":
        return np.concatenate(args, axis=a["axis"])
    if op == "Slice":
        starts, ends = args[1], args[2]
        axes = args[3] if len(args) > 3 and args[3] is not None else range(len(starts))
        steps = args[4] if len(args) > 4 and args[4] is not None else [1] * len(starts)
        index = [slice(None)] * x.ndim
        for start, end, axis, step in zip(starts, ends, axes, steps):
            index[int(axis)] = slice(int(start), int(end), int(step))
        return x[tuple(index)]
    if op == "Cast":
        return x.astype(TENSOR_TYPE_TO_NP_TYPE[a["to"]])
    if op == "ConstantOfShape":
        fill = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
        return np.full([int(d) for d in x], fill.reshape(-1)[0], dtype=fill.dtype)
    if op in ("Add", "Sub", "Mul"):
        return {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}[op](x, args[1]).astype(x.dtype)
    if op == "Div":
        # ONNX's integer division truncates toward zero.
        quotient = np.true_divide(x, args[1])
        return np.trunc(quotient).astype(x.dtype) if np.issubdtype(x.dtype, np.integer) else quotient.astype(x.dtype)
    if op == "Equal":
        return np.equal(x, args[1])
    if op == "Where":
        return np.where(x, args[1], args[2])
    if op == "Reshape":
        target = [int(d) for d in args[1]]
        if not a.get("allowzero", 0):
            target = [x.shape[i] if d == 0 else d for i, d in enumerate(target)]
        return x.reshape(target)
    if op == "Expand":
        return np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(int(d) for d in args[1]))).copy()
    if op == "Range":
        return np.arange(x, args[1], args[2]).astype(x.dtype)
    return None


def _fold_shape_arithmetic(model: onnx.ModelProto, shapes: Mapping[str, Shape]) -> bool:
    """Replaces each node that only computes small values from known ones (the Shape → Gather → … chains of a traced
    export) by an initializer, so that the next shape inference sees constants where onnx's own propagation stops
    (onnx 1.12 does not propagate ConstantOfShape, Equal or Where, which torch's `expand(batch)` emits). True if any was."""
    graph = model.graph
    values: Dict[str, np.ndarray] = {
        tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer if math.prod(tensor.dims) <= SMALL and not tensor.external_data
    }
    outputs = {value.name for value in graph.output}
    kept, folded = [], []
    for node in graph.node:
        args = [values.get(name) if name else None for name in node.input]
        ready = node.op_type == "Shape" and node.input[0] in shapes or all(arg is not None for name, arg in zip(node.input, args) if name)
        result = None
        if ready and node.domain == "" and len(node.output) == 1 and node.output[0] not in outputs:
            try:
                result = _evaluate(node, args, shapes)
            except (KeyError, ValueError, IndexError, TypeError):
                result = None
        if result is None or np.asarray(result).size > SMALL:
            kept.append(node)
            continue
        values[node.output[0]] = np.asarray(result)
        folded.append(numpy_helper.from_array(np.asarray(result), node.output[0]))
    if not folded:
        return False
    del graph.node[:]
    graph.node.extend(kept)
    graph.initializer.extend(folded)
    return True


def _infer(model: onnx.ModelProto) -> Dict[str, Shape]:
    """Shapes after onnx's inference, re-run after each round of folded shape arithmetic and of MultiHeadAttention
    outputs filled in by hand, until neither adds anything."""
    attention: Dict[str, Shape] = {}
    while True:
        # A previous round's guesses (symbolic dims of values folded since) would contradict the new constants.
        del model.graph.value_info[:]
        model.graph.value_info.extend(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, dims) for name, dims in attention.items())
        model = shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
        shapes = _known_shapes(model)
        added = _fold_shape_arithmetic(model, shapes)
        for node in model.graph.node:
            if (node.domain, node.op_type) != FUSED_ATTENTION or node.output[0] in shapes:
                continue
            output = _attention_output(node, shapes)
            if output is not None:
                attention[node.output[0]] = output
                added = True
        if not added:
            return shapes


def _attribute(node: onnx.NodeProto, name: str, default):
    for attribute in node.attribute:
        if attribute.name == name:
            return onnx.helper.get_attribute_value(attribute)
    return default


def node_flops(node: onnx.NodeProto, shapes: Mapping[str, Shape]) -> int:
    """FLOPs of one counted node; 0 for ops that are not counted. Raises when a counted node's shapes are unknown."""
    op = (node.domain, node.op_type)
    counted = op in (("", "MatMul"), ("", "Gemm"), ("", "Conv"), ("", "ConvTranspose"), FUSED_ATTENTION)
    if not counted:
        return 0
    needed = [*node.input[:3 if op == FUSED_ATTENTION else 2], node.output[0]]
    missing = [name for name in needed if name not in shapes]
    if missing:
        raise FlopsError(f"{node.op_type} node {node.name!r}: shape of {', '.join(missing)} unknown after shape inference")
    a, b, out = shapes[needed[0]], shapes[needed[1]], shapes[needed[-1]]
    if node.op_type == "MatMul":
        # Every output element is a dot product along A's last axis (1-D operands included).
        return 2 * math.prod(out) * a[-1]
    if node.op_type == "Gemm":
        inner = a[0] if _attribute(node, "transA", 0) else a[1]
        return 2 * math.prod(out) * inner
    if node.op_type == "Conv":
        # weight [out channels, in channels / group, *kernel]: each output element sums over one group's inputs and the kernel.
        return 2 * math.prod(out) * math.prod(b[1:])
    if node.op_type == "ConvTranspose":
        # weight [in channels, out channels / group, *kernel]: each input element is scattered over one group's outputs and the kernel.
        return 2 * math.prod(a) * math.prod(b[1:])
    # MultiHeadAttention: scores Q·Kᵀ over every query and key token, then the scores times V.
    query, key, value = (shapes[name] for name in node.input[:3])
    batch, query_tokens, key_tokens = query[0], query[1], key[1]
    return 2 * batch * query_tokens * key_tokens * (query[2] + value[2])


def graph_flops(model: onnx.ModelProto, sizes: Mapping[str, Sequence[int]]) -> Dict[str, int]:
    """FLOPs of `model` with its inputs at `sizes`, by op type (only counted ops appear)."""
    sized = _with_input_sizes(model, sizes)
    shapes = _infer(sized)
    totals: Dict[str, int] = {}
    for node in sized.graph.node:
        flops = node_flops(node, shapes)
        if flops:
            totals[node.op_type] = totals.get(node.op_type, 0) + flops
    return totals


def main() -> int:
    requests = json.load(sys.stdin)
    models: Dict[str, onnx.ModelProto] = {}
    results = []
    for request in requests:
        file = request["file"]
        if file not in models:
            # The graph alone: shapes need no weights, and real presets keep gigabytes of them outside the graph.
            models[file] = onnx.load(file, load_external_data=False)
        by_op = graph_flops(models[file], request["inputs"])
        results.append({"flops": sum(by_op.values()), "byOp": by_op})
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
