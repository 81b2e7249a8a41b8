"""The decoder's geometry of a caption's grid: where the "geodesic" plan puts its rows (docs/science.md, section 4).

The decoder reads only a direction: an adapter-space point x reaches it as
y(x) = normalize(x − textMean + imageMean) · imageNorm (`ShapesPipeline.bridge`). With the shifted mean
a = μ − textMean + imageMean and a base sample's offset d = x_s − μ, the decoder direction of μ + λd is
a + λd, whose angle from a is φ(λ) with tan φ = λ·d2 / (|a| + λ·d1), d1 = d·â, d2 = |d − d1·â|. It grows
monotonically with λ toward φ_max = atan2(d2, d1). The geodesic plan fixes each row's angle instead of its λ:
row r sits at θ_r = f_r · θ_tail, θ_tail the 0.95 quantile of φ(1) over plain samples, and each column finds
the λ that reaches θ_r on its own ray. This module mirrors the engine's (lib/engine) placement, in float64.
"""
from __future__ import annotations

from typing import Dict, Sequence

import torch

GEODESIC_FRACTIONS = [0.0, 0.25, 0.5, 0.75, 1.0]
TAIL_QUANTILE = 0.95
TAIL_SAMPLES = 256
LAMBDA_CAP = 1e3
ANGLE_MARGIN = 1e-6  # rad: a target this close to φ_max (or past it) is out of the ray's reach


def ray_components(mu: torch.Tensor, samples: torch.Tensor, text_mean: torch.Tensor, image_mean: torch.Tensor):
    """|a| (scalar) and d1, d2 per sample ([K]) for the rays μ + λ(x_s − μ) of samples [K, D] around μ [D]."""
    mu, samples = mu.double(), samples.double()
    a = mu - text_mean.double() + image_mean.double()
    a_norm = a.norm()
    a_hat = a / a_norm
    d = samples - mu
    d1 = d @ a_hat
    d2 = (d - d1[:, None] * a_hat).norm(dim=-1)
    return a_norm, d1, d2


def angle_at(lam, a_norm, d1, d2) -> torch.Tensor:
    """φ(λ): the decoder angle of μ + λd from the shifted mean's direction."""
    lam = torch.as_tensor(lam, dtype=torch.float64)
    return torch.atan2(lam * d2, a_norm + lam * d1)


def lambda_for_angle(theta, a_norm, d1, d2, cap: float = LAMBDA_CAP):
    """The λ at which each ray reaches the decoder angle θ, and whether it was capped.

    λ = |a| tan θ / (d2 − d1 tan θ), written with sin and cos so θ near π/2 stays finite; a target at or past
    φ_max − 1e-6 rad (never reached), or one reached only beyond the cap, is placed at λ = cap.
    """
    theta = torch.as_tensor(theta, dtype=torch.float64).expand_as(d1)
    phi_max = torch.atan2(d2, d1)
    reachable = theta < phi_max - ANGLE_MARGIN
    denominator = d2 * torch.cos(theta) - d1 * torch.sin(theta)
    lam = torch.where(reachable, a_norm * torch.sin(theta) / torch.where(reachable, denominator, torch.ones_like(denominator)), torch.full_like(d1, cap))
    capped = ~reachable | (lam > cap)
    return lam.clamp(max=cap), capped


def geodesic_plan(mu: torch.Tensor, samples: torch.Tensor, tail_samples: torch.Tensor, text_mean: torch.Tensor, image_mean: torch.Tensor,
                  fractions: Sequence[float] = GEODESIC_FRACTIONS, quantile: float = TAIL_QUANTILE, cap: float = LAMBDA_CAP) -> Dict:
    """λ per cell [R, C] for the columns' base samples [C, D], rows at f_r · θ_tail; θ_tail from tail_samples [S, D].

    Returns {"lambdas": [R, C] float64, "capped": [R, C] bool, "theta_tail": float, "targets": [R] float64}.
    """
    a_norm, d1_tail, d2_tail = ray_components(mu, tail_samples, text_mean, image_mean)
    theta_tail = torch.quantile(angle_at(1.0, a_norm, d1_tail, d2_tail), quantile)
    _, d1, d2 = ray_components(mu, samples, text_mean, image_mean)
    targets = torch.tensor(list(fractions), dtype=torch.float64) * theta_tail
    lambdas, capped = [], []
    for theta in targets:
        if theta == 0:
            lam, cap_row = torch.zeros_like(d1), torch.zeros_like(d1, dtype=torch.bool)
        else:
            lam, cap_row = lambda_for_angle(theta, a_norm, d1, d2, cap)
        lambdas.append(lam)
        capped.append(cap_row)
    return {"lambdas": torch.stack(lambdas), "capped": torch.stack(capped), "theta_tail": float(theta_tail), "targets": targets}


def decoder_angle(x: torch.Tensor, mu: torch.Tensor, text_mean: torch.Tensor, image_mean: torch.Tensor) -> torch.Tensor:
    """The angle between the decoder directions of points x [..., D] and of μ: measured directly, for checking the plan."""
    shift = image_mean.double() - text_mean.double()
    y, y0 = x.double() + shift, mu.double() + shift
    cos = (y @ y0) / (y.norm(dim=-1) * y0.norm())
    # atan2 of the sine and cosine parts keeps small angles accurate, where acos of a rounded cosine would not.
    sin = (y - (y @ y0 / y0.dot(y0))[..., None] * y0).norm(dim=-1) / y.norm(dim=-1)
    return torch.atan2(sin, cos)
