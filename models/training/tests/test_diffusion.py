import math

import pytest
import torch

from models.training import diffusion
from models.training.nets import sinusoidal_embedding


def test_scaled_linear_constants():
    abar = diffusion.scaled_linear_alphas_cumprod()
    assert float(abar[0]) == pytest.approx(0.99915, rel=1e-6)
    assert float(abar[999]) == pytest.approx(0.0046601, rel=1e-4)


@pytest.mark.parametrize("level,signal,noise", [(0, 0.999979, 0.006425), (100, 0.985685, 0.168595), (250, 0.919722, 0.392571), (500, 0.701630, 0.712541)])
def test_noise_augmentation_constants(level, signal, noise):
    abar = diffusion.squaredcos_alphas_cumprod()[level]
    assert math.sqrt(abar) == pytest.approx(signal, abs=1e-6)
    assert math.sqrt(1 - abar) == pytest.approx(noise, abs=1e-6)


def test_noise_augment_mixes_normalised_embedding_and_appends_cos_first_level_embedding():
    e = torch.randn(2, 8)
    mean, std, eps = torch.randn(8), torch.rand(8) + 0.5, torch.randn(2, 8)
    level = torch.tensor([250, 250])
    labels = diffusion.noise_augment(e, level, mean, std, eps)
    expected = ((e - mean) / std * 0.919722 + 0.392571 * eps) * std + mean
    assert torch.allclose(labels[:, :8], expected, atol=1e-5)
    emb = labels[:, 8:]
    assert float(emb[0, 0]) == pytest.approx(math.cos(250.0), abs=1e-5)
    assert float(emb[0, 4]) == pytest.approx(math.sin(250.0), abs=1e-5)
    assert torch.allclose(emb[0], sinusoidal_embedding(torch.tensor([250]), 8)[0])


def test_pndm_timesteps_and_evaluations():
    seen = []

    def denoise(x, t):
        seen.append(t)
        return torch.zeros_like(x)

    diffusion.pndm_sample(denoise, torch.zeros(1, 1), 20)
    assert seen[:4] == [951, 901, 901, 851] and seen[-1] == 1 and len(seen) == 21


@pytest.mark.parametrize("name", ["ddim", "pndm"])
def test_samplers_land_on_the_true_x0_when_the_model_is_exact(name):
    abars = diffusion.scaled_linear_alphas_cumprod().float()
    x0, start = torch.randn(3, 4, 4, 4), torch.randn(3, 4, 4, 4)

    def true_v(x, t):
        eps = (x - abars[t].sqrt() * x0) / (1 - abars[t]).sqrt()
        return abars[t].sqrt() * eps - (1 - abars[t]).sqrt() * x0

    out = diffusion.SAMPLERS[name](true_v, start, 20)
    # the last step goes to ā_0 (set_alpha_to_one=False), so the result is x0 plus a sliver of noise
    a0 = abars[0]
    implied_noise = (out - a0.sqrt() * x0) / (1 - a0).sqrt()
    assert float((out - x0).abs().max()) < 0.2
    assert 0.8 < float(implied_noise.std()) < 1.2
