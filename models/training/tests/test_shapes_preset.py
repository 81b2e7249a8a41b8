"""The committed preset: every file present, hashed, and conforming to docs/model-contract.md."""
import json
from pathlib import Path

import pytest

from models.training import contract, preset_io

PRESET = Path(__file__).resolve().parents[2] / "shapes"
CONFIG = json.loads((PRESET / "preset.json").read_text())


@pytest.mark.parametrize("key", sorted(contract.CONTRACT))
def test_each_model_file_is_hashed_and_conforms(key):
    entry = CONFIG["files"][key]
    path = PRESET / entry["path"]
    assert preset_io.sha256(path) == entry["sha256"], f"{path.name} changed after preset.json was written"
    assert contract.violations(key, path) == []


def test_sizes_agree_across_the_preset():
    d = CONFIG["embedding"]["dim"]
    assert len(CONFIG["bridge"]["textMean"]) == len(CONFIG["bridge"]["imageMean"]) == d
    assert len(CONFIG["noiseAugmentation"]["mean"]) == len(CONFIG["noiseAugmentation"]["std"]) == d
    assert len(CONFIG["uncertainty"]["text"]) == len(CONFIG["uncertainty"]["image"]) == 101


def test_preset_is_a_real_build_with_a_report_and_small_enough():
    assert CONFIG["provenance"]["quick"] is False, "models/shapes holds a --quick smoke build"
    assert (PRESET / "REPORT.md").exists()
    total = sum(p.stat().st_size for p in PRESET.rglob("*") if p.is_file())
    # About 44 MiB: the networks, their torch twins (with the base UNet and stage clip's encoder beside the ones that replaced them) and the two 4 MB epistemic banks.
    assert total < 48 * 1024 * 1024


def test_reference_pipeline_benchmark_runs_on_the_preset(capsys):
    from models.training import bench_reference

    assert bench_reference.main(["--preset", str(PRESET), "--cols", "1", "--steps", "2", "--threads", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == 5 and report["cols"] == 1 and report["images_per_second"] > 0
