"""Smoke run of every training entry point: the whole build for a few steps on tiny splits."""
import json

import numpy as np
import torch

from models.training import build_shapes, contract, evaluate, ood, preset_io, train_adapter, work_from_preset, world


def test_quick_build_runs_every_stage_and_writes_a_conforming_preset(tmp_path):
    work, preset = tmp_path / "work", tmp_path / "preset"
    assert build_shapes.main(["--quick", "--work", str(work), "--preset", str(preset)]) == 0
    stages = json.loads((work / "stages.json").read_text())
    assert list(stages) == ["data", "clip", "text", "vae", "checker", "embed", "unet", "export", "adapter", "tune", "evaluate"]
    config = preset_io.load(preset)
    for key in contract.CONTRACT:
        assert contract.violations(key, preset / config["files"][key]["path"]) == []
    assert config["provenance"]["quick"] is True
    report_text = (preset / "REPORT.md").read_text()
    assert "smoke build" in report_text
    # the build table is written after the last stage, so it times the evaluation too
    assert list(json.loads((preset / "build.json").read_text())) == list(stages)
    assert f"| evaluate | {stages['evaluate']['seconds']} |" in report_text
    assert sorted(p.name for p in (preset / "torch").glob("*.pt")) == ["adapter.pt", "checker.pt", "clip.pt", "clip_base.pt", "unet.pt", "unet_base.pt", "vae.pt"]
    # the exported UNet is the tuned one, and the base UNet's weights stay beside it for the report
    assert config["files"]["unet"]["sha256"] == preset_io.sha256(preset / "unet.onnx")
    assert "corpus" in config and set(config["epistemic"]) == {"text", "image"}
    report = json.loads((preset / "report" / "evaluation.json").read_text())
    assert set(report) >= {"retrieval", "decoder_fidelity", "caption_decoding", "uncertainty_vs_specificity", "calibration_text", "spread", "vague_mean_row", "row_gradient"}
    for row in report["spread"]["a shape"]["rows"].values():
        assert 0 <= row["shape_changed"] <= 1 and 0 <= row["colour_changed"] <= 1
    assert report["spread"]["a shape"]["rows"]["0.0"]["shape_changed"] == 0  # the mean row is its own reference
    low, high = report["decoder_fidelity"]["shape_kept_interval95"]
    assert low <= report["decoder_fidelity"]["shape_kept"] <= high
    # calibration: AURC between its oracle and the worst, −S·R² kept as the paper's number
    cal = report["calibration_text"]
    assert cal["aurc_oracle"] <= cal["aurc"] and cal["aurc_random"] == cal["failure_rate"]
    assert "calibration: AURC gap closed (text queries) ≥ 0.5" in report_text and "−S·R²" in report_text
    # the reference configuration's training: a quick build's 4 steps are its cap
    reference = report["adapter_comparison"]["reference-configuration"]
    assert (reference["steps"], reference["stopped_by"]) == (4, "cap") and "not converged at 4 steps" in report_text
    assert report["adapter_comparison"]["preset"]["stopped_by"] == "fixed steps"
    # the mean row of vague captions: every rate with its interval, both rows judged on the same cells
    for attribute in ("colour", "shape"):
        v = report["vague_mean_row"]["attributes"][attribute]
        assert v["cells"] == v["captions"] * report["vague_mean_row"]["columns"]
        for row in ("mean_row", "lambda_1_row"):
            assert v[f"{row}_interval95"][0] <= v[row] <= v[f"{row}_interval95"][1]
    # row gradient: each plan's shares of a class add up to 1 where defined; the geodesic rows sit at increasing λ
    gradient = report["row_gradient"]
    assert gradient["decoded"] == 3 * (1 + 2 * (gradient["rows"] - 1)) * gradient["columns"]
    for c in gradient["classes"].values():
        for plan in ("interpolate", "geodesic"):
            if None not in c[plan]["step_shares"]:
                assert abs(sum(c[plan]["step_shares"]) - 1) < 1e-3
        assert c["geodesic"]["median_lambda"][0] == 0 and c["geodesic"]["median_lambda"] == sorted(c["geodesic"]["median_lambda"])
    assert (preset / "report" / "row_gradient.png").exists()
    # the caption bank's k is swept on the validation sets, and the report says which k the preset uses
    sweep = report["epistemic_neighbours_validation"]
    assert [int(k) for k in sweep["auroc"]] == evaluate.NEIGHBOUR_SWEEP and sweep["preset_k"] == config["epistemic"]["text"]["neighbours"] == ood.NEIGHBOURS["text"]
    assert all(0 <= a <= 1 for aurocs in sweep["auroc"].values() for a in aurocs.values())
    confusion = report["vague_mean_row"]["shape_confusion"]
    shape_cells = report["vague_mean_row"]["attributes"]["shape"]["cells"]
    assert {row: sum(sum(c.values()) for c in table.values()) for row, table in confusion.items()} == {"mean_row": shape_cells, "lambda_1_row": shape_cells}
    probe = report["shape_only_retrieval"]
    assert list(probe["points"]) == [evaluate.BASE_TOWER, evaluate.CAPTION_TOWER, evaluate.ADAPTER_MEAN, evaluate.BRIDGED_MEAN]
    for v in probe["points"].values():
        assert set(v["shape_only"]) == set(world.SHAPES) and all(0 <= share <= 1 for share in [*v["shape_only"].values(), v["colour_only"]])
    assert "### Where a named shape goes" in report_text
    assert "### Epistemic neighbours (validation split)" in report_text and f"the preset uses k = {sweep['preset_k']}" in report_text
    assert config["epistemic"]["image"]["neighbours"] == ood.NEIGHBOURS["image"]
    # the caption tower is stage text's; the prompt encoder stays stage clip's, whose hidden states the UNet was trained on
    assert (preset / "torch" / "clip.pt").read_bytes() == (work / "clip_text.pt").read_bytes()
    assert (preset / "torch" / "clip_base.pt").read_bytes() == (work / "clip.pt").read_bytes()
    base, refit = torch.load(work / "clip.pt"), torch.load(work / "clip_text.pt")
    assert all(torch.equal(base[k], refit[k]) for k in base if not k.startswith("text."))
    assert any(not torch.equal(base[k], refit[k]) for k in base if k.startswith("text."))
    # the work folder rebuilt from the preset alone holds the build's own weights and latents up to stage unet
    again = tmp_path / "again"
    assert work_from_preset.rebuild(preset, again, log=lambda _: None) == {k: stages[k] for k in ("data", "clip", "text", "vae", "checker", "unet")}
    for name in ("clip.pt", "clip_text.pt", "vae.pt", "checker.pt", "unet.pt"):
        assert (again / name).read_bytes() == (work / name).read_bytes(), name
    with np.load(again / "images.npz") as rebuilt, np.load(work / "images.npz") as built:
        assert sorted(rebuilt.files) == sorted(built.files) and all(np.array_equal(rebuilt[k], built[k]) for k in built.files)
    assert torch.equal(torch.load(again / "train_latents.pt"), torch.load(work / "train_latents.pt"))
    assert not (again / "pairs_train.npz").exists()  # so the next build runs embed and every stage after unet
    for name in ("mean row shows the named colour ≥ 0.95", "mean row shows each named attribute at least as often as the λ = 1 row",
                 "row gradient: every step's share between 0.5/(R−1) and 2/(R−1) for every caption class, default plan"):
        assert f"| {name} |" in report_text


def test_adapter_trainer_command_line(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "p.npz", image_embeds=rng.normal(size=(64, 8)).astype(np.float32), text_embeds=rng.normal(size=(64, 8)).astype(np.float32))
    assert train_adapter.main(["--pairs", str(tmp_path / "p.npz"), "--out", str(tmp_path / "ckpt"), "--steps", "3", "--objective", "surrogate"]) == 0
    assert train_adapter.load(tmp_path / "ckpt").options.objective == "surrogate"
