"""The report's measures (calibration as SCIENCE.md defines it, rate intervals), checked against values worked out by hand."""
import numpy as np
import pytest

from models.training.evaluate import _within_reach, bars, calibration, fitted_r2, spearman, wilson_interval


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
        "calibration_text": {"minus_S_R2": 0.7},
        "spread": {"a shape": {"rises_to_1.5": False}},
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
