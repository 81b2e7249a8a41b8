"""The reference-configuration comparison trained to convergence (train_adapter.train_until_converged, comparisons, run)."""
import json
from dataclasses import replace

import numpy as np
import pytest

from models.training import train_adapter


@pytest.fixture
def pairs(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.normal(size=(96, 8)).astype(np.float32)
    text = (image + 0.1 * rng.normal(size=image.shape)).astype(np.float32)
    np.savez(tmp_path / "train.npz", image_embeds=image, text_embeds=text)
    np.savez(tmp_path / "val.npz", image_embeds=image[:32], text_embeds=text[:32])
    return train_adapter.Options(pairs=tmp_path / "train.npz", val_pairs=tmp_path / "val.npz", hidden=16, batch=32, steps=4)


def test_a_loss_that_stops_improving_stops_the_run_before_the_cap(pairs):
    # lr 0: the validation loss never moves, so the run stops one patience window after its first check
    trained = train_adapter.train_until_converged(replace(pairs, lr=0.0, steps=1000), log=lambda _: None, interval=10, patience=30)
    m = trained.metrics
    assert m["stopped_by"] == "convergence" and m["steps_run"] == 40 and m["max_steps"] == 1000
    assert m["convergence"]["best_step"] == 10
    assert [s for s, _ in m["convergence"]["history"]] == [10, 20, 30, 40]
    assert not trained.text.training  # returned in eval mode, dropout off


def test_a_loss_still_improving_runs_to_the_cap(pairs):
    trained = train_adapter.train_until_converged(replace(pairs, lr=1e-3, steps=60), log=lambda _: None, interval=10, patience=1000, relative_tolerance=1e-3)
    m = trained.metrics
    assert m["stopped_by"] == "cap" and m["steps_run"] == 60
    losses = [v for _, v in m["convergence"]["history"]]
    assert losses[-1] < losses[0]
    # a tolerance no improvement can meet: the best stays at the first check and the run stops after the window
    stopped = train_adapter.train_until_converged(replace(pairs, lr=1e-3, steps=60), log=lambda _: None, interval=10, patience=20, relative_tolerance=10.0)
    assert stopped.metrics["stopped_by"] == "convergence" and stopped.metrics["steps_run"] == 30


def test_the_cap_follows_the_build_and_a_quick_run_keeps_its_steps(pairs):
    reference = train_adapter.comparisons(replace(pairs, steps=3000))["reference-configuration"]
    assert reference["until_converged"] and reference["steps"] == train_adapter.CONVERGENCE["max_steps"] > 3000
    assert (reference["objective"], reference["t2"], reference["lambda_cross"], reference["lr"]) == ("surrogate", 1e-4, 1e-4, 8e-5)
    assert train_adapter.comparisons(replace(pairs, steps=4))["reference-configuration"]["steps"] == 4
    assert "until_converged" not in train_adapter.comparisons(pairs)["other-objective"]


def test_run_records_how_the_converged_comparison_was_trained(pairs, tmp_path):
    result = train_adapter.run(replace(pairs, out=tmp_path / "ckpt", comparison_dir=tmp_path / "comparison"), log=lambda _: None)
    record = json.loads((tmp_path / "comparison" / "reference-configuration" / "metrics.json").read_text())
    assert record["steps_run"] == 4 and record["stopped_by"] == "cap" and record["max_steps"] == 4
    assert result["reference-configuration"]["stopped_by"] == "cap" and "convergence" not in result["reference-configuration"]
    assert not (tmp_path / "comparison" / "other-objective" / "metrics.json").exists()
    assert train_adapter.load(tmp_path / "comparison" / "reference-configuration").options.lr == 8e-5
