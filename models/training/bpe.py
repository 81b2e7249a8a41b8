"""CLIP-format byte-level BPE: learn merges on a corpus, write vocab.json + merges.txt, encode.

The vocabulary layout and the encoding algorithm are OpenAI CLIP's, so the engine's TypeScript
tokenizer (lib/engine/tokenizer.ts) reads these files exactly as it reads CLIP's own:
256 byte characters, the same 256 with `</w>`, one entry per merge, then <|startoftext|>, <|endoftext|>.
"""
from __future__ import annotations

import collections
import html
import json
import re
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Tuple

# CLIP's split pattern. Python's `re` has no \p{L}/\p{N}: [^\W\d_] is "letters" and \d is
# "numbers" (Nd only), which is exact for the caption corpus this learns from (ASCII).
_SPLIT = re.compile(
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|(?:[^\s\w]|_)+",
    re.IGNORECASE,
)
END_OF_WORD = "</w>"
BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"


def bytes_to_unicode() -> Dict[int, str]:
    """GPT-2's reversible byte -> printable character map (used by CLIP)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars)))


_BYTE_CHARS = bytes_to_unicode()


def clean(text: str) -> str:
    text = html.unescape(html.unescape(text))
    return re.sub(r"\s+", " ", text).strip().lower()


def pretokenize(text: str) -> List[str]:
    """Words of a cleaned text, each mapped byte-by-byte to the unicode alphabet."""
    return ["".join(_BYTE_CHARS[b] for b in piece.encode("utf-8")) for piece in _SPLIT.findall(clean(text))]


def _word_symbols(word: str) -> Tuple[str, ...]:
    return tuple(word[:-1]) + (word[-1] + END_OF_WORD,)


def learn_merges(texts: Iterable[str], max_merges: int = 2000, min_count: int = 2) -> List[Tuple[str, str]]:
    counts = collections.Counter(w for t in texts for w in pretokenize(t))
    words = {_word_symbols(w): c for w, c in counts.items()}
    merges: List[Tuple[str, str]] = []
    while len(merges) < max_merges:
        pairs: Dict[Tuple[str, str], int] = collections.Counter()
        for symbols, c in words.items():
            for pair in zip(symbols, symbols[1:]):
                pairs[pair] += c
        if not pairs:
            break
        # Most frequent pair; ties broken by the pair itself so learning is deterministic.
        best, best_count = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        if best_count < min_count:
            break
        merges.append(best)
        joined = best[0] + best[1]
        updated = {}
        for symbols, c in words.items():
            out, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(joined)
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            updated[tuple(out)] = updated.get(tuple(out), 0) + c
        words = updated
    return merges


def build_vocab(merges: Sequence[Tuple[str, str]]) -> Dict[str, int]:
    base = list(_BYTE_CHARS.values())
    tokens = base + [b + END_OF_WORD for b in base] + [a + b for a, b in merges] + [BOS_TOKEN, EOS_TOKEN]
    return {tok: i for i, tok in enumerate(tokens)}


class Tokenizer:
    def __init__(self, merges: Sequence[Tuple[str, str]], context_length: int = 77, pad_id: int = 0):
        self.merges = list(merges)
        self.ranks = {pair: i for i, pair in enumerate(self.merges)}
        self.vocab = build_vocab(self.merges)
        self.bos_id = self.vocab[BOS_TOKEN]
        self.eos_id = self.vocab[EOS_TOKEN]
        self.pad_id = pad_id
        self.context_length = context_length
        self._cache: Dict[str, List[str]] = {}

    def _bpe(self, word: str) -> List[str]:
        if word in self._cache:
            return self._cache[word]
        symbols = list(_word_symbols(word))
        while len(symbols) > 1:
            ranked = [(self.ranks.get(p, float("inf")), i) for i, p in enumerate(zip(symbols, symbols[1:]))]
            rank, _ = min(ranked)
            if rank == float("inf"):
                break
            pair = self.merges[int(rank)]
            out, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
                    out.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            symbols = out
        self._cache[word] = symbols
        return symbols

    def encode(self, text: str) -> List[int]:
        return [self.vocab[s] for w in pretokenize(text) for s in self._bpe(w)]

    def encode_for_model(self, text: str) -> List[int]:
        ids = [self.bos_id] + self.encode(text)[: self.context_length - 2] + [self.eos_id]
        return ids + [self.pad_id] * (self.context_length - len(ids))

    def encode_batch(self, texts: Sequence[str]):
        import torch

        return torch.tensor([self.encode_for_model(t) for t in texts], dtype=torch.long)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
        lines = ["#version: 0.2 (Penumbra shapes, CLIP byte-level layout)"] + [f"{a} {b}" for a, b in self.merges]
        (folder / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, context_length: int = 77, pad_id: int = 0) -> "Tokenizer":
        lines = (folder / "merges.txt").read_text(encoding="utf-8").splitlines()
        merges = [tuple(l.split(" ")) for l in lines if l and not l.startswith("#version")]
        return cls(merges, context_length=context_length, pad_id=pad_id)
