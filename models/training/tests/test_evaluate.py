"""The report's measures (calibration as docs/science.md, section 6, defines it, rate intervals), checked against values worked out by hand."""
import itertools
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from models.training import evaluate
from models.training.evaluate import (_render_adapter_comparison, _render_calibration, _within_reach, aurc, aurc_oracle, aurc_random, bars,
                                      calibration, calibration_orderings, fitted_r2, gap_closed, spearman, step_shares, wilson_interval)


def test_fitted_r2_is_the_coefficient_of_determination_of_the_least_squares_line():
    # y = [1, 3, 2] on x = [1, 2, 3]: line 1 + x/2, residuals ±0.5, ∓1 → 1 − 1.5/2
    assert fitted_r2([1, 2, 3], [1, 3, 2]) == pytest.approx(0.25)
    # scale-free, unlike sklearn's r2_score(levels, recalls)
    assert fitted_r2([1, 2, 3], [10, 30, 20]) == pytest.approx(0.25)
    assert fitted_r2([1, 2, 3, 4], [0.4, 0.3, 0.2, 0.1]) == pytest.approx(1.0)


def test_spearman_gives_ties_their_average_rank():
    # ranks of y with the tie averaged: [1, 2.5, 2.5, 4]; Pearson of those with [1, 2, 3, 4]
    expected = np.corrcoef([1, 2, 3, 4], [1, 2.5, 2.5, 4])[0, 1]
    assert spearman([1, 2, 3, 4], [10, 20, 20, 40]) == pytest.approx(expected)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert np.isnan(spearman([1, 2, 3], [5, 5, 5]))


def test_calibration_bins_queries_by_uncertainty_and_scores_recall_per_level():
    # 40 queries, 4 levels of 10: recall 0.9, 0.6, 0.3, 0.0 from the least to the most uncertain
    uncertainty = np.arange(40, dtype=np.float64)
    hits = np.zeros(40, dtype=bool)
    for level, count in enumerate([9, 6, 3, 0]):
        hits[10 * level : 10 * level + count] = True
    shuffled = np.random.default_rng(0).permutation(40)  # binning must sort by uncertainty, not keep query order
    result = calibration(uncertainty[shuffled], hits[shuffled], 4)
    assert result["recall_per_level"] == [0.9, 0.6, 0.3, 0.0]
    assert result["S"] == pytest.approx(-1.0)
    assert result["R2"] == pytest.approx(1.0)
    assert result["minus_S_R2"] == pytest.approx(1.0)
    # the same hits with the uncertainty reversed: recall rises with level, the worst score
    assert calibration(-uncertainty, hits, 4)["minus_S_R2"] == pytest.approx(-1.0)


def test_geometric_recall_falls_short_of_a_line_even_when_perfectly_ordered():
    result = calibration(np.arange(5, dtype=np.float64), np.array([1.0, 0.5, 0.25, 0.125, 0.0625]), 5)
    assert result["S"] == pytest.approx(-1.0)
    assert result["R2"] == pytest.approx(0.8710, abs=1e-4)


def test_aurc_of_four_queries_worked_by_hand():
    uncertainty = np.array([0.1, 0.2, 0.3, 0.4])
    failures = np.array([0, 1, 0, 1])
    # kept most certain first: risks 0/1, 1/2, 1/3, 2/4
    assert aurc(uncertainty, failures) == pytest.approx((0 + 1 / 2 + 1 / 3 + 2 / 4) / 4)
    # the query order does not matter, only the uncertainty
    assert aurc(uncertainty[::-1].copy()[::-1], failures) == aurc(uncertainty, failures)
    assert aurc(uncertainty[[2, 0, 3, 1]], failures[[2, 0, 3, 1]]) == pytest.approx((0 + 1 / 2 + 1 / 3 + 2 / 4) / 4)
    # oracle: the two hits kept first, risks 0, 0, 1/3, 2/4; the worst order keeps the failures first: 1, 1, 2/3, 2/4
    assert aurc_oracle(failures) == pytest.approx((0 + 0 + 1 / 3 + 1 / 2) / 4)
    assert aurc(-failures, failures) == pytest.approx((1 + 1 + 2 / 3 + 1 / 2) / 4)
    assert aurc_random(failures) == 0.5
    # random ordering: the mean AURC over all 24 orders of the four queries is exactly the failure rate
    every_order = [aurc(np.array(order, dtype=float), failures) for order in itertools.permutations(range(4))]
    assert np.mean(every_order) == pytest.approx(0.5, abs=1e-12)
    assert min(every_order) == pytest.approx(aurc_oracle(failures)) and max(every_order) == pytest.approx(aurc(-failures, failures))
    # ties broken at random in expectation: the first two tied (one failure) → expected risk 1/2 at k = 1
    assert aurc(np.array([1.0, 1.0, 2.0, 3.0]), np.array([1, 0, 0, 1])) == pytest.approx((1 / 2 + 1 / 2 + 1 / 3 + 2 / 4) / 4)


def test_the_oracle_is_the_least_aurc_and_random_ordering_averages_to_the_failure_rate():
    rng = np.random.default_rng(3)
    failures = (rng.random(12) < 0.4).astype(float)
    oracle, worst, rate = aurc_oracle(failures), aurc(-failures, failures), aurc_random(failures)
    values = [aurc(rng.random(12), failures) for _ in range(300)]
    assert all(oracle - 1e-12 <= v <= worst + 1e-12 for v in values)
    # every ordering's mean over all 12! permutations is the failure rate: an all-tied uncertainty computes that expectation exactly
    assert aurc(np.zeros(12), failures) == pytest.approx(rate)
    assert failures.mean() == rate
    # and a large sample of random orderings agrees with it
    assert np.mean(values) == pytest.approx(rate, abs=0.02)
    # fractional (expected) failures: sorting by the failure itself is still the least
    soft = rng.random(12)
    assert aurc_oracle(soft) <= min(aurc(rng.random(12), soft) for _ in range(100))


def test_gap_closed_is_zero_for_random_and_one_for_the_oracle():
    failures = np.array([0, 1, 0, 1, 1, 0, 1, 1], dtype=float)
    rand, oracle = aurc_random(failures), aurc_oracle(failures)
    assert gap_closed(rand, rand, oracle) == 0.0
    assert gap_closed(oracle, rand, oracle) == 1.0
    assert gap_closed((rand + oracle) / 2, rand, oracle) == pytest.approx(0.5)
    assert gap_closed(aurc(-failures, failures), rand, oracle) < 0  # worse than random
    assert np.isnan(gap_closed(0.0, 0.0, 0.0))  # all hits: no gap to close


def test_calibration_orderings_report_oracle_random_and_noisy_ambiguity():
    rng = np.random.default_rng(0)
    matching = rng.integers(1, 50, size=200).astype(float)
    hits = rng.random(200) < 1 / matching
    out = calibration_orderings(np.log(matching) + rng.normal(size=200), hits, matching, rng.integers(0, 6, size=200), 4)
    assert out["hits"]["oracle"]["gap_closed"] == 1.0 and out["hits"]["random"]["gap_closed"] == 0.0
    assert out["aurc_random"] == pytest.approx(1 - hits.mean(), abs=1e-4)
    assert out["aurc_oracle"] <= out["aurc"] <= out["aurc_random"]
    # m exactly is the oracle of the expected recall 1/m; noise can only raise its AURC
    exact = out["expected_recall"]["exact"]
    assert exact["gap_closed"] == 1.0
    assert all(out["expected_recall"][f"noise_{s}"]["aurc"] >= exact["aurc"] for s in out["noise"]["sigmas"])


def test_minus_s_r2_can_prefer_a_noisier_ordering_where_aurc_cannot():
    # Expected recall 1/m falling geometrically: a noisy ordering mixes the levels into a straighter line.
    matching = np.repeat(2.0 ** np.arange(10), 20)
    recall = 1 / matching
    eps = np.random.default_rng(1).standard_normal(len(matching))
    exact, noisy = calibration(np.log(matching), recall, 10), calibration(np.log(matching) + 2.0 * eps, recall, 10)
    assert noisy["minus_S_R2"] > exact["minus_S_R2"]
    assert aurc(np.log(matching) + 2.0 * eps, 1 - recall) > aurc(np.log(matching), 1 - recall)


def test_step_shares_split_the_last_rows_change_over_the_steps():
    # one column; row embeddings at angles 0, 60°, 90° from row 0: change 0, 1/2, 1 → shares 1/2, 1/2
    e = torch.tensor([[1.0, 0.0], [0.5, 3 ** 0.5 / 2], [0.0, 1.0]])[:, None, :]
    out = step_shares(e.repeat(1, 2, 1))
    assert out["change"] == pytest.approx([0.0, 0.5, 1.0])
    assert out["shares"] == pytest.approx([0.5, 0.5])
    # change is averaged over columns before the shares are taken; the embeddings' norms do not matter
    second = torch.tensor([[2.0, 0.0], [2.0, 0.0], [0.0, 5.0]])[:, None, :]
    out = step_shares(torch.cat([e, second], dim=1))
    assert out["change"] == pytest.approx([0.0, 0.25, 1.0])
    assert out["shares"] == pytest.approx([0.25, 0.75])
    assert all(np.isnan(step_shares(torch.ones(3, 2, 2))["shares"]))  # no change at all: undefined, not an even split


def test_wilson_interval_matches_hand_computed_bounds():
    # 5 of 10: centre 0.5, half-width 1.96/(1 + 1.96²/10) · √(0.025 + 1.96²/400) = 0.26341
    assert wilson_interval(5, 10) == pytest.approx([0.2366, 0.7634], abs=1e-4)
    # 0 of 10: [0, z²/(n + z²)], never below 0 as the plain normal interval would be
    assert wilson_interval(0, 10) == pytest.approx([0.0, 3.8416 / 13.8416], abs=1e-4)
    # symmetric in successes and failures
    low, high = wilson_interval(160, 200)
    assert wilson_interval(40, 200) == pytest.approx([1 - high, 1 - low], abs=1e-4)


def _results(shape_kept: float, cases: int) -> dict:
    def rate(key: str, value: float) -> dict:
        return {key: value, f"{key}_interval95": wilson_interval(round(value * cases), cases)}

    return {
        "retrieval": {"text_to_image_attribute_R1": 0.99, "image_to_text_attribute_R1": 0.98},
        "decoder_fidelity": {**rate("colour_kept", 0.95), **rate("shape_kept", shape_kept)},
        "caption_decoding": {**rate("colour_shown", 0.9), **rate("shape_shown", 0.8)},
        "uncertainty_vs_specificity": {"spearman": -0.9},
        "calibration_text": {"minus_S_R2": 0.7, "aurc_gap_closed": 0.6},
        "spread": {"a shape": {"rises_to_1.5": False}},
        "vague_mean_row": {"attributes": {"colour": {**rate("mean_row", 0.97), **rate("lambda_1_row", 0.9)}, "shape": {**rate("mean_row", 0.8), **rate("lambda_1_row", 0.8)}}},
        "row_gradient": {"default_plan": "geodesic", "share_bounds": [0.125, 0.5],
                         "classes": {"0": {"geodesic": {"step_shares": [0.3, 0.3, 0.2, 0.2]}, "interpolate": {"step_shares": [0.9, 0.1, 0.0, 0.0]}},
                                     "1–2": {"geodesic": {"step_shares": [0.25, 0.25, 0.25, 0.25]}, "interpolate": {"step_shares": [0.7, 0.2, 0.1, 0.0]}}}},
    }


def test_rate_bars_carry_their_interval_and_say_when_the_bar_lies_inside_it():
    shape_bar = next(b for b in bars(_results(0.81, 1000)) if b.get("measure") == "decoder keeps shape")
    assert shape_bar["name"] == "decoder keeps shape ≥ 0.80" and shape_bar["met"]
    low, high = shape_bar["interval95"]
    assert low < 0.8 < high  # 810 of 1000: the bar is within reach of sampling noise
    assert _within_reach(shape_bar)
    clear = next(b for b in bars(_results(0.9, 1000)) if b.get("measure") == "decoder keeps shape")
    assert clear["met"] and not _within_reach(clear)
    missed = next(b for b in bars(_results(0.7, 1000)) if b.get("measure") == "decoder keeps shape")
    assert not missed["met"] and not _within_reach(missed)


def _bar(results: dict, start: str) -> dict:
    return next(b for b in bars(results) if b["name"].startswith(start))


def test_calibration_bar_reads_the_aurc_gap_closed_and_negative_s_r2_is_no_longer_a_bar():
    results = _results(0.9, 1000)
    bar = _bar(results, "calibration")
    assert bar["name"] == "calibration: AURC gap closed (text queries) ≥ 0.5" and bar["value"] == 0.6 and bar["met"]
    assert not any("S·R²" in b["name"] for b in bars(results))
    results["calibration_text"]["aurc_gap_closed"] = 0.49
    assert not _bar(results, "calibration")["met"]
    results["calibration_text"]["aurc_gap_closed"] = None  # no failures or no hits: nothing to close
    assert not _bar(results, "calibration")["met"]


def test_mean_row_bars():
    results = _results(0.9, 1000)
    colour = _bar(results, "mean row shows the named colour")
    assert colour["name"] == "mean row shows the named colour ≥ 0.95" and colour["met"] and colour["value"] == 0.97
    each = _bar(results, "mean row shows each named attribute")
    assert each["name"] == "mean row shows each named attribute at least as often as the λ = 1 row" and each["met"]  # shape ties: 0.8 ≥ 0.8
    results["vague_mean_row"]["attributes"]["shape"]["lambda_1_row"] = 0.81
    assert not _bar(results, "mean row shows each named attribute")["met"]


def test_row_gradient_bar_checks_every_step_of_the_default_plan_in_every_class():
    results = _results(0.9, 1000)
    bar = _bar(results, "row gradient")
    assert bar["name"] == "row gradient: every step's share between 0.5/(R−1) and 2/(R−1) for every caption class, default plan"
    assert bar["met"]  # the interpolate plan's 0.9 does not count: it is not the default
    assert "0.2–0.3" in bar["value"]
    results["row_gradient"]["classes"]["1–2"]["geodesic"]["step_shares"] = [0.55, 0.25, 0.1, 0.1]
    assert not _bar(results, "row gradient")["met"]
    results["row_gradient"]["classes"]["1–2"]["geodesic"]["step_shares"] = [None, 0.25, 0.1, 0.1]
    assert not _bar(results, "row gradient")["met"]


def _calibration_section(noisy_scores):
    rng = np.random.default_rng(0)
    matching = rng.integers(1, 50, size=200).astype(float)
    hits = rng.random(200) < 1 / matching
    cal = calibration(np.log(matching), hits, 4)
    cal.update(calibration_orderings(np.log(matching), hits, matching, rng.integers(0, 6, size=200), 4))
    cal["recall_by_attributes_named"] = {0: 0.1}
    for sigma, score in zip(cal["noise"]["sigmas"], noisy_scores):
        cal["expected_recall"][f"noise_{sigma}"]["minus_S_R2"] = score
    cal["expected_recall"]["exact"]["minus_S_R2"] = 0.6
    return "\n".join(_render_calibration(cal, 200))


def test_the_calibration_text_follows_its_numbers():
    raised = _calibration_section([0.7, 0.5])
    assert "higher at σ = 0.5 although the ordering is worse" in raised and "not monotone" in raised
    assert "ceiling" in raised and "is a ceiling" in raised  # only to say that none is
    lowered = _calibration_section([0.5, 0.4])
    assert "does not show the non-monotonicity" in lowered and "higher at" not in lowered


def test_the_adapter_table_says_how_each_adapter_was_trained():
    row = {"objective": "surrogate", "t2": 1e-4, "lambda_cross": 1e-4, "lr": 8e-5, "spearman": 0.4, "minus_S_R2": -0.4, "aurc_gap_closed": 0.1, "mean_beta": 1.3}
    convergence = {"interval": 250, "patience": 1000, "relative_tolerance": 1e-3, "val_loss": 0.009, "best_step": 14000,
                   "history": [[s, 0.01 - s * 1e-8] for s in range(250, 14001, 250)]}
    text = "\n".join(_render_adapter_comparison({
        "preset": {**row, "objective": "exact", "steps": 3000, "stopped_by": "fixed steps"},
        "reference-configuration": {**row, "steps": 14000, "stopped_by": "cap", "max_steps": 14000, "convergence": convergence},
    }))
    assert "| 3000 (fixed) |" in text and "| not converged at 14000 steps |" in text
    assert "it reached the cap, so it is not converged" in text and "still changed by -0.10%" in text
    converged = "\n".join(_render_adapter_comparison({"reference-configuration": {**row, "steps": 5000, "stopped_by": "convergence", "max_steps": 14000,
                                                                                   "convergence": {**convergence, "best_step": 4000}}}))
    assert "| converged at 5000 steps |" in converged and "still changed" not in converged


def test_auroc_counts_pairs_and_splits_ties():
    assert evaluate.auroc([3, 4], [1, 2]) == 1.0
    assert evaluate.auroc([1, 2], [3, 4]) == 0.0
    assert evaluate.auroc([1, 1], [1, 1]) == 0.5
    # pairs (pos, neg): (2,1) win, (2,3) loss, (5,1) win, (5,3) win → 3 of 4
    assert evaluate.auroc([2, 5], [1, 3]) == 0.75
    assert evaluate.auroc([2, 3], [3, 1]) == 0.625  # (2,3) loss, (2,1) win, (3,3) tie, (3,1) win


def test_ood_caption_sets_are_fixed_and_outside_sets_leave_the_world():
    from models.training import ood, world

    scenes = world.make_split("test", 50)
    sets = evaluate.ood_caption_sets(scenes, 20)
    assert sets == evaluate.ood_caption_sets(scenes, 20)
    assert {k: len(v) for k, v in sets.items()} == {"in_vocabulary": 20, "out_of_vocabulary": 20, "nonsense": 20, "repeated_word": 20}
    import json
    from pathlib import Path

    world_words = set(json.loads((Path(__file__).resolve().parents[2] / "shapes" / "preset.json").read_text())["corpus"]["vocabulary"])
    for caption in sets["out_of_vocabulary"]:
        assert any(word in evaluate.OOD_WORDS for word in ood.words(caption)), caption
    assert not set(evaluate.OOD_WORDS) & world_words
    for caption in sets["repeated_word"]:
        words = caption.split()
        assert len(set(words)) == 1 and 20 <= len(words) <= 70


def test_the_validation_ood_sets_that_choose_k_share_no_outside_word_or_scene_with_the_test_sets():
    from models.training import ood, world

    world_words = set(json.loads((Path(__file__).resolve().parents[2] / "shapes" / "preset.json").read_text())["corpus"]["vocabulary"])
    assert not set(evaluate.VALIDATION_OOD_WORDS) & world_words
    assert not set(evaluate.VALIDATION_OOD_WORDS) & set(evaluate.OOD_WORDS)
    assert evaluate.VALIDATION_OOD_SEED != evaluate.OOD_SEED
    validation = evaluate.ood_caption_sets(world.make_split("val", 50), 20, evaluate.VALIDATION_OOD_SEED, evaluate.VALIDATION_OOD_WORDS)
    for caption in validation["out_of_vocabulary"]:
        replaced = [w for w in ood.words(caption) if w.isalpha() and w not in world_words]
        assert replaced and set(replaced) <= set(evaluate.VALIDATION_OOD_WORDS), caption
    assert not set(validation["nonsense"]) & set(evaluate.ood_caption_sets(world.make_split("test", 50), 20)["nonsense"])
    # the preset's caption k is one the sweep tries
    assert ood.NEIGHBOURS["text"] in evaluate.NEIGHBOUR_SWEEP


def test_confusion_counts_every_verdict_per_named_label_with_zeros_kept():
    table = evaluate.confusion(["circle", "circle", "cross"], ["square", "circle", "triangle"], ["circle", "square", "triangle", "cross"])
    assert table["circle"] == {"circle": 1, "square": 1, "triangle": 0, "cross": 0}
    assert table["cross"] == {"circle": 0, "square": 0, "triangle": 1, "cross": 0}
    assert sum(table["square"].values()) == 0
