"""The tensor signatures of docs/model-contract.md ("The models"), checked against exported ONNX files (by tests and by hand)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

import onnx

FLOAT, FLOAT16, INT32, INT64 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.INT32, onnx.TensorProto.INT64
ANY_FLOAT = {FLOAT, FLOAT16}

# key -> (inputs, outputs); each tensor: (name, allowed element types, allowed ranks)
Signature = Tuple[str, set, set]
CONTRACT: Dict[str, Tuple[List[Signature], List[Signature]]] = {
    "clipText": ([("input_ids", {INT32, INT64}, {2})], [("text_embeds", {FLOAT}, {2})]),
    "clipImage": ([("pixel_values", {FLOAT}, {4})], [("image_embeds", {FLOAT}, {2})]),
    "adapterText": ([("embedding", {FLOAT}, {2})], [("mu", {FLOAT}, {2}), ("one_over_alpha", {FLOAT}, {2}), ("beta", {FLOAT}, {2})]),
    "adapterImage": ([("embedding", {FLOAT}, {2})], [("mu", {FLOAT}, {2}), ("one_over_alpha", {FLOAT}, {2}), ("beta", {FLOAT}, {2})]),
    "promptEncoder": ([("input_ids", {INT32, INT64}, {2})], [("last_hidden_state", ANY_FLOAT, {3})]),
    "unet": (
        [("sample", ANY_FLOAT, {4}), ("timestep", ANY_FLOAT | {INT64}, {0, 1}), ("encoder_hidden_states", ANY_FLOAT, {3}), ("class_labels", ANY_FLOAT, {2})],
        [("out_sample", ANY_FLOAT, {4})],
    ),
    "vaeDecoder": ([("latent_sample", ANY_FLOAT, {4})], [("sample", {FLOAT}, {4})]),
}


def _describe(value_info) -> Tuple[str, int, int]:
    t = value_info.type.tensor_type
    return value_info.name, t.elem_type, len(t.shape.dim)


def violations(key: str, path: Path) -> List[str]:
    """Plain-language list of what in `path` breaks the contract for model `key` (empty when it conforms)."""
    model = onnx.load(str(path), load_external_data=False)
    problems = []
    expected_in, expected_out = CONTRACT[key]
    for kind, expected, actual in (("input", expected_in, model.graph.input), ("output", expected_out, model.graph.output)):
        found = {name: (elem, rank) for name, elem, rank in map(_describe, actual)}
        for name, types, ranks in expected:
            if name not in found:
                problems.append(f"{path.name}: {kind} '{name}' is missing (has {sorted(found)})")
                continue
            elem, rank = found[name]
            if elem not in types:
                problems.append(f"{path.name}: {kind} '{name}' has element type {onnx.TensorProto.DataType.Name(elem)}, expected one of {sorted(onnx.TensorProto.DataType.Name(t) for t in types)}")
            if rank not in ranks:
                problems.append(f"{path.name}: {kind} '{name}' has rank {rank}, expected {sorted(ranks)}")
    return problems
