"""Stage `vae`: the 3x64x64 <-> 4x16x16 autoencoder and its measured latent scaling factor."""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Dict

import torch
import torch.nn.functional as F

from . import data
from .nets import Vae

KL_WEIGHT = 1e-6


def train(work: Path, steps: int, batch: int = 32, lr: float = 2e-3, seed: int = 0, log=print) -> Dict:
    torch.manual_seed(seed)
    images = data.load_images(work, "train")
    model = Vae()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    generator = torch.Generator().manual_seed(seed)
    started = time.time()
    for step in range(steps):
        x = images[torch.randint(0, len(images), (batch,), generator=generator)]
        mean, logvar = model.encoder(x)
        z = mean + (0.5 * logvar).exp() * torch.randn(mean.shape, generator=generator)
        recon = model.decoder(z)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).mean()
        loss = F.mse_loss(recon, x) + 0.5 * F.l1_loss(recon, x) + KL_WEIGHT * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        if step % 250 == 0 or step == steps - 1:
            log(f"vae step {step}/{steps} loss {loss.item():.5f} ({time.time() - started:.0f}s)")
    model.eval()
    latents = encoder_means(model, images)
    # Stable Diffusion's convention: scale latents to unit standard deviation.
    scaling_factor = float(1.0 / latents.std())
    with torch.no_grad():
        val = data.load_images(work, "val")
        val_mse = float(F.mse_loss(model.decoder(model.encoder(val)[0]), val))
    torch.save({"state": model.state_dict(), "scaling_factor": scaling_factor}, work / "vae.pt")
    torch.save(latents * scaling_factor, work / "train_latents.pt")
    return {"steps": steps, "scaling_factor": round(scaling_factor, 5), "val_mse": round(val_mse, 5)}


@torch.no_grad()
def encoder_means(model: Vae, images: torch.Tensor) -> torch.Tensor:
    """The encoder's mean latents of images in [-1, 1], unscaled (the UNet trains on them times the scaling factor)."""
    return torch.cat([model.encoder(images[i : i + 500])[0] for i in range(0, len(images), 500)])


def load(folder: Path):
    saved = torch.load(folder / "vae.pt")
    model = Vae()
    model.load_state_dict(saved["state"])
    return model.eval(), saved["scaling_factor"]
