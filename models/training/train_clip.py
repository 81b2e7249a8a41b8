"""Stage `clip`: the CLIP-style dual encoder, trained with symmetric InfoNCE on captions of every specificity."""
from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Dict

import torch
import torch.nn.functional as F

from . import data
from .nets import ClipDual


def train(work: Path, steps: int, batch: int = 128, lr: float = 1e-3, seed: int = 0, log=print) -> Dict:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    tokenizer = data.load_tokenizer(work)
    images = data.load_images(work, "train")
    scenes = data.load_scenes(work, "train")
    model = ClipDual(len(tokenizer.vocab), tokenizer.eos_id)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 100) * 0.5 * (1 + math.cos(math.pi * s / steps)))
    labels = torch.arange(batch)
    started = time.time()
    for step in range(steps):
        idx = rng.sample(range(len(scenes)), min(batch, len(scenes)))
        # Half the captions name everything, the rest are of random specificity: retrieval needs the
        # former, the adapter's notion of vagueness needs the latter.
        texts = data.batch_captions([scenes[i] for i in idx], rng, full_probability=0.5)
        img = F.normalize(model.image(images[idx]), dim=-1)
        txt = F.normalize(model.text.embed_trimmed(tokenizer.encode_batch(texts)), dim=-1)
        logits = img @ txt.t() * model.log_temperature.exp().clamp(max=100)
        n = len(idx)
        loss = (F.cross_entropy(logits, labels[:n]) + F.cross_entropy(logits.t(), labels[:n])) / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        if step % 250 == 0 or step == steps - 1:
            log(f"clip step {step}/{steps} loss {loss.item():.4f} temp {model.log_temperature.exp().item():.1f} ({time.time() - started:.0f}s)")
    torch.save(model.state_dict(), work / "clip.pt")
    return {"steps": steps, "batch": batch, "final_loss": round(loss.item(), 4)}


def load(folder: Path, name: str = "clip.pt") -> ClipDual:
    """Stage clip's dual encoder (clip.pt), or another saved in its layout (stage text's clip_text.pt)."""
    state = torch.load(folder / name)
    vocab_size = state["text.token_embedding.weight"].shape[0]
    model = ClipDual(vocab_size, eos_id=vocab_size - 1)  # CLIP layout: <|endoftext|> is the last id
    model.load_state_dict(state)
    return model.eval()
