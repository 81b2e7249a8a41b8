"""What a preset knows, so that a run can say when its input lies outside it.

Two records, both written into preset.json by the adapter trainer (train_adapter.write_to_preset)
and read by the engine (lib/engine/ood.ts):

- `corpus`: the words of the captions the adapter was trained on (split as CLIP's tokenizer splits
  them, lower-cased) and the most words any one of them had. A caption with a word outside this
  vocabulary, or longer than every training caption, asks the towers about text they never saw.
- `epistemic`: per modality, a bank of training inputs (the adapter's scaled input embeddings, unit
  length, at most BANK_SIZE distinct ones drawn with a fixed seed) stored as little-endian float32,
  the number of neighbours k (NEIGHBOURS), and reference quantiles of the score over held-out inputs. The score
  of an input is 1 − the mean cosine similarity to its k nearest bank entries: a density estimate
  of the input under the training inputs (epistemic: it says how much data the adapter saw near
  the input, which its aleatoric α, β cannot say about inputs it never saw).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, List

import numpy as np
import torch
import torch.nn.functional as F

from . import bpe, preset_io

BANK_SIZE = 16384
# k per modality. Captions are discrete: an in-world caption usually has an exact or near twin among the training
# captions, and averaging over more neighbours mixes in captions that differ by an attribute, which blurs that. k for
# captions is the best of REPORT.md's sweep on validation captions inside and outside the world ("Epistemic neighbours
# (validation split)"); images have no such suite and keep 8.
NEIGHBOURS = {"text": 1, "image": 8}
QUANTILE_COUNT = 101
# An input is flagged when its score exceeds this share of held-out in-distribution inputs' scores.
FLAG_QUANTILE = 0.99



def words(text: str) -> List[str]:
    """The pieces CLIP's tokenizer splits a cleaned, lower-cased caption into before byte-pair encoding."""
    return bpe._SPLIT.findall(bpe.clean(text))


def _is_word(piece: str) -> bool:
    # Punctuation pieces ("!", ",") are not words a caption can be outside the corpus by.
    return any(c.isalnum() for c in piece)


def corpus_record(texts: Iterable[str]) -> Dict:
    vocabulary, longest, count = set(), 0, 0
    for text in texts:
        pieces = [w for w in words(str(text)) if _is_word(w)]
        vocabulary.update(pieces)
        longest = max(longest, len(pieces))
        count += 1
    return {"vocabulary": sorted(vocabulary), "maxWords": longest, "captions": count}


def unknown_words(text: str, corpus: Dict) -> List[str]:
    known = set(corpus["vocabulary"])
    seen, unknown = set(), []
    for piece in words(text):
        if _is_word(piece) and piece not in known and piece not in seen:
            seen.add(piece)
            unknown.append(piece)
    return unknown


def outside_vocabulary(text: str, corpus: Dict) -> bool:
    """The engine's vocabulary verdict (lib/engine/ood.ts): a word the corpus lacks, or more words than any training caption."""
    return bool(unknown_words(text, corpus)) or len([w for w in words(text) if _is_word(w)]) > corpus["maxWords"]


def flag_score(record: Dict) -> float:
    """The epistemic score above which the engine flags an input: the record's flagQuantile quantile of held-out scores."""
    quantiles = record["quantiles"]
    return float(quantiles[round(record["flagQuantile"] * (len(quantiles) - 1))])


def make_bank(scaled: torch.Tensor, size: int = BANK_SIZE, seed: int = 0) -> torch.Tensor:
    """At most `size` distinct training inputs, unit length, in a seeded random order."""
    distinct = torch.unique(F.normalize(scaled.float(), dim=-1), dim=0)
    order = torch.randperm(len(distinct), generator=torch.Generator().manual_seed(seed))[:size]
    return distinct[order].contiguous()


@torch.no_grad()
def scores(queries: torch.Tensor, bank: torch.Tensor, k: int) -> torch.Tensor:
    """1 − mean cosine similarity of each query to its k nearest bank entries (0 on the bank itself)."""
    k = min(k, len(bank))
    out = []
    for start in range(0, len(queries), 2048):
        similarity = F.normalize(queries[start : start + 2048].float(), dim=-1) @ bank.t()
        out.append(1.0 - similarity.topk(k, dim=-1).values.mean(dim=-1))
    return torch.cat(out)


def write_bank(preset: Path, name: str, bank: torch.Tensor) -> Dict[str, str]:
    (preset / name).write_bytes(bank.numpy().astype("<f4").tobytes())
    return preset_io.file_entry(preset, name)


def load_bank(preset: Path, record: Dict, dim: int) -> torch.Tensor:
    raw = np.frombuffer((preset / record["bank"]["path"]).read_bytes(), dtype="<f4")
    return torch.from_numpy(raw.copy()).reshape(record["count"], dim)


def epistemic_record(preset: Path, modality: str, train_scaled: torch.Tensor, held_out_scaled: torch.Tensor) -> Dict:
    """The bank of one modality and the quantiles of held-out inputs' scores against it."""
    bank = make_bank(train_scaled)
    reference = scores(torch.unique(held_out_scaled, dim=0), bank, NEIGHBOURS[modality])
    quantiles = torch.quantile(reference.double(), torch.linspace(0, 1, QUANTILE_COUNT, dtype=torch.float64))
    return {
        "bank": write_bank(preset, f"epistemic_{modality}.f32", bank),
        "count": len(bank),
        "neighbours": NEIGHBOURS[modality],
        "flagQuantile": FLAG_QUANTILE,
        "quantiles": preset_io.floats(quantiles, 8),
        "referenceCount": len(reference),
    }
