"""Runs an exported ONNX graph from Python: with onnxruntime where it is installed (a user's export
machine, models/export/requirements.txt), else through onnxruntime-node (models/export/run_onnx.ts),
which is what this repository's own machines have. Both run on the CPU provider."""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
TSX = REPO / "node_modules" / ".bin" / "tsx"
NODE_RUNNER = Path(__file__).with_name("run_onnx.ts")
DTYPES = {torch.float32: "float32", torch.float16: "float16", torch.int64: "int64", torch.int32: "int32"}
NUMPY = {"float32": np.float32, "float16": np.float16, "int64": np.int64, "int32": np.int32}


def _python_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        return None
    return onnxruntime


def run_onnx(model: Path, feeds: Dict[str, torch.Tensor], timeout: float = 600) -> Dict[str, torch.Tensor]:
    """The graph's outputs, by name, for `feeds` (CPU tensors)."""
    onnxruntime = _python_onnxruntime()
    if onnxruntime is None:
        return run_onnx_node(model, feeds, timeout)[0]
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    values = session.run(names, {name: tensor.detach().cpu().numpy() for name, tensor in feeds.items()})
    return {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in zip(names, values)}


def run_onnx_node(model: Path, feeds: Dict[str, torch.Tensor], timeout: float = 600) -> Tuple[Dict[str, torch.Tensor], Dict[str, float]]:
    """The graph's outputs through onnxruntime-node in a process of its own, with the run's wall
    time (`runMs`) and that process's peak resident memory (`peakRssBytes`)."""
    if not TSX.exists():
        raise RuntimeError(f"running {model.name} needs onnxruntime for Python or this repository's node_modules (npm ci); found neither")
    with tempfile.TemporaryDirectory(prefix="penumbra-onnx-") as scratch:
        request = {"model": str(model), "outputDir": scratch, "feeds": {}}
        for i, (name, tensor) in enumerate(feeds.items()):
            file = Path(scratch) / f"in{i}.bin"
            file.write_bytes(tensor.detach().cpu().contiguous().numpy().tobytes())
            request["feeds"][name] = {"dtype": DTYPES[tensor.dtype], "dims": list(tensor.shape), "file": str(file)}
        done = subprocess.run([str(TSX), str(NODE_RUNNER)], input=json.dumps(request), cwd=REPO, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"onnxruntime-node could not run {model.name}: {done.stderr.strip()[-2000:]}")
        answer = json.loads(done.stdout)
        outputs = {name: torch.from_numpy(np.fromfile(o["file"], dtype=NUMPY[o["dtype"]]).reshape(o["dims"]).copy()) for name, o in answer["outputs"].items()}
        return outputs, {"runMs": answer["runMs"], "peakRssBytes": answer["peakRssBytes"]}
