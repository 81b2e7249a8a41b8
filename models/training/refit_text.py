"""Stage `text`: the CLIP text tower refitted so that a vague caption sits near every image it describes.

Stage `clip` trains both towers with plain InfoNCE: each caption's only positive is its own image, and every other
image of the batch is a negative, including the ones the caption describes just as well. A caption naming only a
shape ("a circle") meets 31 other circles of a 128-scene batch as negatives and is never asked to be nearer to
circles than to squares, so the tower learns little of which shape it names: REPORT.md ("Where a named shape goes")
measures how few of such a caption's nearest test images show the shape, and how the mean row draws it.

This stage keeps the image tower frozen (the image embeddings, and so the VAE, checker and UNet trained on them, stay
as they are) and trains the text tower on from stage `clip` with every image of the batch that the caption matches
as a positive (symmetric, multi-positive InfoNCE: the target of a caption is uniform over the batch images it
matches, and of an image over the batch captions that match it), at the temperature stage `clip` learned.

Its 2,000 steps were chosen on validation scenes, not on the test split, by a probe like REPORT.md's shape-only
retrieval run after 1,000, 2,000 and 3,000 steps: 3,000 gained nothing over 2,000.

The UNet's prompt encoder stays the text tower of stage `clip` (work/clip.pt): the UNet was trained on its hidden
states, and this stage moves them. The refitted tower (work/clip_text.pt) gives the caption embeddings.
"""
from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Dict

import torch
import torch.nn.functional as F

from . import data, embed, train_clip, world

OUT = "clip_text.pt"


def multi_positive_loss(logits: torch.Tensor, matches: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE with several positives: logits [captions, images]; matches[i, j] is 1 where caption i describes image j.
    Every caption matches its own image, so no row or column is without a positive."""
    to_images = -(matches / matches.sum(1, keepdim=True) * F.log_softmax(logits, 1)).sum(1).mean()
    to_captions = -(matches.T / matches.T.sum(1, keepdim=True) * F.log_softmax(logits.T, 1)).sum(1).mean()
    return (to_images + to_captions) / 2


def train(work: Path, steps: int, batch: int = 128, lr: float = 1e-3, seed: int = 11, log=print) -> Dict:
    """Refits the text tower of work/clip.pt; writes the whole dual encoder, image tower unchanged, to work/clip_text.pt."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    tokenizer = data.load_tokenizer(work)
    scenes = data.load_scenes(work, "train")
    model = train_clip.load(work)
    images = F.normalize(embed.image_embeds(model, data.load_images(work, "train")), dim=-1)
    scale = model.log_temperature.exp().clamp(max=100).item()
    for p in model.parameters():
        p.requires_grad_(False)
    text_params = list(model.text.parameters())
    for p in text_params:
        p.requires_grad_(True)
    model.text.train()
    opt = torch.optim.AdamW(text_params, lr=lr, weight_decay=0.01)
    started = time.time()
    for step in range(steps):
        idx = rng.sample(range(len(scenes)), min(batch, len(scenes)))
        # The captions of stage clip: half name everything, the rest are of random specificity.
        caps = [world.random_caption(scenes[i], rng, 0.5) for i in idx]
        matches = torch.tensor([[c.matches(scenes[j]) for j in idx] for c in caps], dtype=torch.float32)
        texts = F.normalize(model.text.embed_trimmed(tokenizer.encode_batch([c.text for c in caps])), dim=-1)
        loss = multi_positive_loss(texts @ images[idx].T * scale, matches)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 250 == 0 or step == steps - 1:
            log(f"text refit step {step}/{steps} loss {loss.item():.4f} ({time.time() - started:.0f}s)")
    model.eval()
    torch.save(model.state_dict(), work / OUT)
    return {"steps": steps, "batch": batch, "lr": lr, "final_loss": round(loss.item(), 4)}


def load(folder: Path):
    """The dual encoder whose text tower embeds captions (the refitted one)."""
    return train_clip.load(folder, OUT)
