"""The geodesic plan's placement (models/training/geometry.py): each cell decodes at its row's target angle."""
import math

import torch

from models.training.geometry import LAMBDA_CAP, angle_at, decoder_angle, geodesic_plan, lambda_for_angle, ray_components
from models.training.pipeline import ShapesPipeline


def _caption(dim=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    text_mean, image_mean = torch.randn(dim, generator=g) * 0.3, torch.randn(dim, generator=g) * 0.3
    mu = torch.randn(dim, generator=g) * 0.5
    samples = mu + 0.4 * torch.randn(8, dim, generator=g)
    tail = mu + 0.4 * torch.randn(256, dim, generator=g)
    return mu, samples, tail, text_mean, image_mean


def test_lambda_one_reproduces_the_decoded_angle_of_the_sample():
    mu, samples, _, tm, im = _caption()
    a_norm, d1, d2 = ray_components(mu, samples, tm, im)
    assert torch.allclose(angle_at(1.0, a_norm, d1, d2), decoder_angle(samples, mu, tm, im), atol=1e-9)


def test_placed_cells_decode_at_their_target_angle():
    mu, samples, tail, tm, im = _caption()
    plan = geodesic_plan(mu, samples, tail, tm, im)
    assert plan["lambdas"].shape == (5, 8) and not plan["capped"].any()
    assert torch.all(plan["lambdas"][0] == 0)
    d = samples.double() - mu.double()
    for r, theta in enumerate(plan["targets"]):
        cells = mu.double() + plan["lambdas"][r][:, None] * d
        assert torch.allclose(decoder_angle(cells, mu, tm, im), theta.expand(8), atol=1e-4)
        # the same through the pipeline's own bridge, in float32, as the decoder receives it
        bridge = {"textMean": tm.tolist(), "imageMean": im.tolist(), "imageNorm": 21.3}
        y, y0 = ShapesPipeline.bridge(None, cells.float(), bridge).double(), ShapesPipeline.bridge(None, mu[None], bridge).double()[0]
        sin = (y - (y @ y0 / y0.dot(y0))[:, None] * y0).norm(dim=-1)
        assert torch.allclose(torch.atan2(sin, y @ y0 / y0.norm()), theta.expand(8), atol=1e-4)
    # θ_tail is the 0.95 quantile of the plain samples' decoder angles
    assert math.isclose(plan["theta_tail"], float(torch.quantile(decoder_angle(tail, mu, tm, im), 0.95)), rel_tol=1e-9)
    # the last row reaches θ_tail: λ near 1 for most columns, and larger for the rays that turn slowly
    assert torch.all(plan["lambdas"][1:] > 0) and torch.all(plan["lambdas"][1:].diff(dim=0) > 0)


def test_a_target_past_the_rays_limit_is_capped():
    # d along â (d2 small, d1 > 0): the ray's angle never exceeds atan2(d2, d1)
    a_norm, d1, d2 = torch.tensor(1.0, dtype=torch.float64), torch.tensor([1.0, 1.0], dtype=torch.float64), torch.tensor([0.1, 1.0], dtype=torch.float64)
    lam, capped = lambda_for_angle(0.5, a_norm, d1, d2)  # φ_max = 0.0997 and 0.785 rad
    assert capped.tolist() == [True, False]
    assert lam[0] == LAMBDA_CAP
    assert math.isclose(float(angle_at(lam[1], a_norm, d1[1], d2[1])), 0.5, abs_tol=1e-12)
    # hand-worked: |a| = 1, d1 = 1, d2 = 1, θ = π/8: λ = tan θ / (1 − tan θ)
    lam, capped = lambda_for_angle(math.pi / 8, a_norm, d1[1:], d2[1:])
    t = math.tan(math.pi / 8)
    assert math.isclose(float(lam), t / (1 - t), rel_tol=1e-12) and not capped.any()
    # a reachable target beyond the cap is capped too
    lam, capped = lambda_for_angle(0.7850, a_norm, d1[1:], d2[1:])
    assert capped.all() and float(lam) == LAMBDA_CAP
