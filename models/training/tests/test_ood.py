"""The preset's record of what it knows (models/training/ood.py); the engine reads the same records (lib/engine/ood.ts)."""
import json
from pathlib import Path

import torch

from models.training import ood, world

SHAPES = Path(__file__).resolve().parents[2] / "shapes"


def test_words_split_like_the_tokenizer_and_drop_punctuation_from_the_vocabulary():
    assert ood.words("A small BLUE star, on the right!") == ["a", "small", "blue", "star", ",", "on", "the", "right", "!"]
    record = ood.corpus_record(["a red circle", "at the top left, a big red box"])
    assert record == {"vocabulary": ["a", "at", "big", "box", "circle", "left", "red", "the", "top"], "maxWords": 8, "captions": 2}
    assert ood.unknown_words("A red star, a STAR on a moon!", record) == ["star", "on", "moon"]
    assert ood.unknown_words("a big red circle", record) == []


def test_bank_scores_zero_on_its_own_entries_and_more_away_from_them():
    torch.manual_seed(0)
    train = torch.randn(300, 16)
    bank = ood.make_bank(torch.cat([train, train]), size=1000)
    assert len(bank) == 300  # duplicates collapse
    assert torch.allclose(bank.norm(dim=-1), torch.ones(300))
    on_bank = ood.scores(train[:10], bank, k=1)
    assert torch.allclose(on_bank, torch.zeros(10), atol=1e-6)
    near = ood.scores(train[:10] + 0.01 * torch.randn(10, 16), bank, k=1)
    far = ood.scores(torch.eye(16)[:10], bank, k=1)
    assert (far > near).all()
    assert len(ood.make_bank(train, size=64)) == 64


def test_epistemic_record_writes_the_bank_and_sorted_held_out_quantiles(tmp_path):
    torch.manual_seed(1)
    train = torch.randn(500, 8)
    record = ood.epistemic_record(tmp_path, "text", train, torch.randn(50, 8))
    assert record["bank"]["path"] == "epistemic_text.f32"
    assert (tmp_path / "epistemic_text.f32").stat().st_size == record["count"] * 8 * 4
    q = record["quantiles"]
    assert len(q) == ood.QUANTILE_COUNT and q == sorted(q) and q[0] > 0
    assert record["referenceCount"] == 50 and record["neighbours"] == ood.NEIGHBOURS["text"]
    # the file holds exactly the bank, as little-endian float32 in row order
    assert torch.equal(ood.load_bank(tmp_path, record, 8), ood.make_bank(train))


def test_the_shapes_preset_knows_every_word_its_world_writes():
    config = json.loads((SHAPES / "preset.json").read_text())
    import random

    rng = random.Random(0)
    for scene in world.make_split("test", 200):
        caption = world.random_caption(scene, rng)
        assert ood.unknown_words(caption.text, config["corpus"]) == [], caption.text
    assert ood.unknown_words("a photograph of a dog", config["corpus"]) == ["photograph", "of", "dog"]


def test_the_adapter_trainer_reads_a_corpus_file_of_either_kind(tmp_path):
    from models.training import train_adapter

    (tmp_path / "captions.json").write_text(json.dumps({"annotations": [{"caption": "A dog on a sofa."}, {"caption": "two cats"}]}))
    (tmp_path / "captions.txt").write_text("a dog on a sofa\n\n  \ntwo cats\n")
    assert train_adapter.corpus_texts(tmp_path / "captions.json") == ["A dog on a sofa.", "two cats"]
    assert train_adapter.corpus_texts(tmp_path / "captions.txt") == ["a dog on a sofa", "two cats"]
    assert ood.corpus_record(train_adapter.corpus_texts(tmp_path / "captions.json"))["vocabulary"] == ["a", "cats", "dog", "on", "sofa", "two"]


def test_the_vocabulary_verdict_and_flag_score_are_the_engines():
    corpus = {"vocabulary": ["a", "red", "circle"], "maxWords": 3, "captions": 1}
    assert not ood.outside_vocabulary("A red circle!", corpus)
    assert ood.outside_vocabulary("a red star", corpus)
    assert ood.outside_vocabulary("red red red red", corpus)  # more words than any training caption
    record = {"quantiles": [i / 100 for i in range(101)], "flagQuantile": 0.99}
    assert ood.flag_score(record) == 0.99
