"""Stage `checker`: the independent judge of decoded images (shape and size), never a decoder."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Dict

import numpy as np
import torch
import torch.nn.functional as F

from . import data, world
from .nets import ShapeChecker


def _labels(scenes):
    return (
        torch.tensor([world.SHAPES.index(s.shape) for s in scenes]),
        torch.tensor([list(world.SIZES).index(s.size) for s in scenes]),
    )


def train(work: Path, steps: int, batch: int = 128, seed: int = 0, log=print) -> Dict:
    torch.manual_seed(seed)
    images = data.load_images(work, "train")
    shapes, sizes = _labels(data.load_scenes(work, "train"))
    model = ShapeChecker(len(world.SHAPES), len(world.SIZES))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    generator = torch.Generator().manual_seed(seed)
    started = time.time()
    for step in range(steps):
        idx = torch.randint(0, len(images), (batch,), generator=generator)
        x = images[idx]
        # Blur and noise make the judge robust to soft decoder output instead of tuned to sharp renders.
        if step % 2 == 0:
            x = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
        x = x + 0.05 * torch.randn(x.shape, generator=generator)
        shape_logits, size_logits = model(x)
        loss = F.cross_entropy(shape_logits, shapes[idx]) + F.cross_entropy(size_logits, sizes[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 250 == 0 or step == steps - 1:
            log(f"checker step {step}/{steps} loss {loss.item():.4f} ({time.time() - started:.0f}s)")
    model.eval()
    val_shapes, val_sizes = _labels(data.load_scenes(work, "val"))
    with torch.no_grad():
        s, z = model(data.load_images(work, "val"))
    torch.save(model.state_dict(), work / "checker.pt")
    return {
        "steps": steps,
        "val_shape_accuracy": round(float((s.argmax(-1) == val_shapes).float().mean()), 4),
        "val_size_accuracy": round(float((z.argmax(-1) == val_sizes).float().mean()), 4),
    }


def load(folder: Path) -> ShapeChecker:
    model = ShapeChecker(len(world.SHAPES), len(world.SIZES))
    model.load_state_dict(torch.load(folder / "checker.pt"))
    return model.eval()


def dominant_colour(image_uint8: np.ndarray) -> str:
    """Pixel rule: the palette colour nearest to most foreground pixels (those far from the corners' colour)."""
    img = image_uint8.reshape(-1, 3).astype(np.float32)
    corners = image_uint8[[0, 0, -1, -1], [0, -1, 0, -1]].astype(np.float32)
    background = np.median(corners, axis=0)
    foreground = img[np.abs(img - background).sum(axis=1) > 90]
    if len(foreground) < 4:
        return "none"
    palette = np.array(list(world.COLOURS.values()), dtype=np.float32)
    nearest = ((foreground[:, None, :] - palette[None]) ** 2).sum(-1).argmin(1)
    return list(world.COLOURS)[int(np.bincount(nearest, minlength=len(palette)).argmax())]
