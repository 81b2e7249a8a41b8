import json
import math

import numpy as np
import onnx
import pytest
import torch

from models.training import contract, preset_io, train_adapter


def ggd_density(x, mu, alpha, beta):
    return beta / (2 * alpha * math.gamma(1 / beta)) * math.exp(-((abs(x - mu) / alpha) ** beta))


@pytest.mark.parametrize("beta", [0.5, 0.684, 1.0, 2.0, 4.0])
def test_exact_nll_is_minus_log_density(beta):
    mu, alpha = 0.25, 0.75  # exactly representable in float32, so torch and math see the same numbers
    for x in [-1.0, 0.0, 0.25, 0.5, 1.5, 3.0]:
        nll = train_adapter.ggd_nll(torch.tensor([x]), torch.tensor([mu]), torch.tensor([alpha]), torch.tensor([beta]), "exact")
        assert float(nll) == pytest.approx(-math.log(ggd_density(x, mu, alpha, beta)), rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_density_integrates_to_one(beta):
    # wide enough that β = 0.5's heavy tails hold under 1e-6 of the mass outside
    grid = np.concatenate([-np.geomspace(3000, 1e-6, 200000), [0.0], np.geomspace(1e-6, 3000, 200000)])
    alpha, b = 1.3, beta
    values = b / (2 * alpha * math.gamma(1 / b)) * np.exp(-((np.abs(grid) / alpha) ** b))
    assert np.trapz(values, grid) == pytest.approx(1.0, abs=1e-4)


def test_surrogate_replaces_the_power_by_beta_times_ratio():
    x, mu, alpha, beta = torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([0.5]), torch.tensor([1.5])
    exact = train_adapter.ggd_nll(x, mu, alpha, beta, "exact")
    surrogate = train_adapter.ggd_nll(x, mu, alpha, beta, "surrogate")
    assert float(exact - surrogate) == pytest.approx(2.0 ** 1.5 - 1.5 * 2.0, rel=1e-5)
    with pytest.raises(ValueError, match="objective"):
        train_adapter.ggd_nll(x, mu, alpha, beta, "mse")


def _fit_scalar_ggd(x: torch.Tensor, objective: str):
    """The one α and β that minimise the objective over samples x centred on μ = 0."""
    log_alpha = torch.zeros((), dtype=torch.float64, requires_grad=True)
    log_beta = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_alpha, log_beta], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-15, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = train_adapter.ggd_nll(x, torch.zeros_like(x), log_alpha.exp().expand_as(x), log_beta.exp().expand_as(x), objective)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_alpha.exp()), float(log_beta.exp())


def test_surrogate_fixes_beta_whatever_the_data():
    # docs/science.md, section 8: the surrogate's β part is ln Γ(1/β) alone, so its optimum is Γ's minimum.
    generator = torch.Generator().manual_seed(0)
    gaussian = torch.randn(20000, generator=generator, dtype=torch.float64)
    uniform = lambda: torch.rand(20000, generator=generator, dtype=torch.float64)
    laplace = 0.1 * (uniform().log() - uniform().log())  # the difference of two Exp(1) draws is Laplace(0, 1)
    for x in (gaussian, laplace):
        assert _fit_scalar_ggd(x, "surrogate")[1] == pytest.approx(0.684167, abs=1e-4)
    # The exact NLL finds each data set's own shape instead.
    assert _fit_scalar_ggd(gaussian, "exact")[1] == pytest.approx(2.0, abs=0.1)
    assert _fit_scalar_ggd(laplace, "exact")[1] == pytest.approx(1.0, abs=0.1)


def test_heads_to_params_applies_eps_and_clamps():
    alpha, beta = train_adapter.heads_to_params(torch.tensor([0.0, 1.0, 1e6]), torch.tensor([0.0, 1.0, 9.0]))
    assert alpha.tolist() == pytest.approx([5.0, 1 / (1 + 1e-4), 1e-4], rel=1e-4)
    assert beta.tolist() == pytest.approx([0.1, 1.0001, 5.0], rel=1e-6)


def test_variance_formula_matches_gaussian_and_laplace():
    alpha = torch.tensor([2.0, 2.0])
    var = train_adapter.variance(alpha, torch.tensor([2.0, 1.0]))
    assert var.tolist() == pytest.approx([alpha[0].item() ** 2 / 2, 2 * alpha[1].item() ** 2], rel=1e-5)


def _pairs(path, n=256, d=16, seed=0):
    g = np.random.default_rng(seed)
    image = g.normal(size=(n, d)).astype(np.float32)
    text = (image + 0.3 * g.normal(size=(n, d))).astype(np.float32)
    np.savez(path, image_embeds=image, text_embeds=text, texts=np.array([f"t{i}" for i in range(n)]))
    return path


def test_trainer_exports_adapters_bridge_and_uncertainty_into_a_preset(tmp_path):
    preset = tmp_path / "preset"
    o = train_adapter.Options(pairs=_pairs(tmp_path / "pairs.npz"), val_pairs=_pairs(tmp_path / "val.npz", seed=1), preset=preset, out=tmp_path / "ckpt",
                              steps=30, batch=64, comparison_dir=tmp_path / "other")
    result = train_adapter.run(o, log=lambda m: None)
    assert result["objective"] == "exact" and set(result) >= {"other-objective", "reference-configuration"}
    config = preset_io.load(preset)
    for key in ("adapterImage", "adapterText"):
        path = preset / config["files"][key]["path"]
        assert config["files"][key]["sha256"] == preset_io.sha256(path)
        assert contract.violations(key, path) == []
    assert config["adapter"]["objective"] == "exact" and config["adapter"]["inputScale"] == {"text": "l2", "image": "l2"}
    assert len(config["bridge"]["textMean"]) == 16 and config["bridge"]["imageNorm"] > 0
    assert len(config["uncertainty"]["text"]) == 101 and config["uncertainty"]["text"] == sorted(config["uncertainty"]["text"])
    parity = json.loads((preset / "torch-outputs.json").read_text())
    assert len(parity["adapterText"]["mu"]) == 16 and len(parity["adapterImage"]["beta"]) == 16
    again = train_adapter.load(tmp_path / "ckpt")
    z = torch.randn(4, 16)
    assert torch.allclose(train_adapter.distribution(again.text, z)[0], train_adapter.distribution(again.text, z)[0])


def test_trainer_rejects_mismatched_pairs(tmp_path):
    np.savez(tmp_path / "bad.npz", image_embeds=np.zeros((4, 8), np.float32), text_embeds=np.zeros((4, 9), np.float32))
    with pytest.raises(ValueError, match="same shape|one shape"):
        train_adapter.train(train_adapter.Options(pairs=tmp_path / "bad.npz", steps=1))


def test_contract_check_names_what_is_wrong(tmp_path):
    model = torch.nn.Linear(4, 4)
    preset_io.export_onnx(model, (torch.zeros(1, 4),), tmp_path / "m.onnx", ["wrong_name"], ["mu"], {"wrong_name": {0: "b"}})
    problems = contract.violations("adapterText", tmp_path / "m.onnx")
    assert any("input 'embedding' is missing" in p for p in problems)
    assert any("output 'one_over_alpha' is missing" in p for p in problems)
