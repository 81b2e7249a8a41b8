"""Smoke run of every training entry point: the whole build for a few steps on tiny splits."""
import json

from models.training import build_shapes, contract, preset_io, train_adapter


def test_quick_build_runs_every_stage_and_writes_a_conforming_preset(tmp_path):
    work, preset = tmp_path / "work", tmp_path / "preset"
    assert build_shapes.main(["--quick", "--work", str(work), "--preset", str(preset)]) == 0
    stages = json.loads((work / "stages.json").read_text())
    assert list(stages) == ["data", "clip", "vae", "checker", "embed", "unet", "export", "adapter", "evaluate"]
    config = preset_io.load(preset)
    for key in contract.CONTRACT:
        assert contract.violations(key, preset / config["files"][key]["path"]) == []
    assert config["provenance"]["quick"] is True
    report_text = (preset / "REPORT.md").read_text()
    assert "smoke build" in report_text
    # the build table is written after the last stage, so it times the evaluation too
    assert list(json.loads((preset / "build.json").read_text())) == list(stages)
    assert f"| evaluate | {stages['evaluate']['seconds']} |" in report_text
    assert sorted(p.name for p in (preset / "torch").glob("*.pt")) == ["adapter.pt", "checker.pt", "clip.pt", "unet.pt", "vae.pt"]
    report = json.loads((preset / "report" / "evaluation.json").read_text())
    assert set(report) >= {"retrieval", "decoder_fidelity", "caption_decoding", "uncertainty_vs_specificity", "calibration_text", "spread"}
    for row in report["spread"]["a shape"]["rows"].values():
        assert 0 <= row["shape_changed"] <= 1 and 0 <= row["colour_changed"] <= 1
    assert report["spread"]["a shape"]["rows"]["0.0"]["shape_changed"] == 0  # the mean row is its own reference
    low, high = report["decoder_fidelity"]["shape_kept_interval95"]
    assert low <= report["decoder_fidelity"]["shape_kept"] <= high


def test_adapter_trainer_command_line(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "p.npz", image_embeds=rng.normal(size=(64, 8)).astype(np.float32), text_embeds=rng.normal(size=(64, 8)).astype(np.float32))
    assert train_adapter.main(["--pairs", str(tmp_path / "p.npz"), "--out", str(tmp_path / "ckpt"), "--steps", "3", "--objective", "surrogate"]) == 0
    assert train_adapter.load(tmp_path / "ckpt").options.objective == "surrogate"
