"""scripts/gpu-check.sh runs where no GPU is: its PyTorch half in --smoke mode prints its JSON, and
its engine half says what it lacks instead of failing."""
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_the_gpu_check_runs_its_smoke_mode_and_names_what_the_engine_half_lacks():
    done = subprocess.run(["bash", str(REPO / "scripts" / "gpu-check.sh"), "--", "--smoke"], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    anchor = json.loads(next(line for line in lines if line.startswith("{")))
    assert anchor["device"] == "cpu" and [t["batch"] for t in anchor["timings"]] == [2, 16]
    assert all(t["msMedian"] > 0 and t["gridUnetSeconds"] > 0 for t in anchor["timings"])
    assert any(line.startswith("engine: skipped: no --engine-preset") for line in lines)


def test_without_cuda_the_anchor_refuses_plainly():
    from models.twins.gpu_check import main

    assert main([]) == 2
