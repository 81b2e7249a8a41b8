from models.training import bpe

CORPUS = ["a large red circle at the top left", "a red shape", "an object", "a small blue square on black"] * 10


def test_vocabulary_has_clip_layout():
    tok = bpe.Tokenizer(bpe.learn_merges(CORPUS))
    byte_chars = list(bpe.bytes_to_unicode().values())
    assert [tok.vocab[c] for c in byte_chars] == list(range(256))
    assert [tok.vocab[c + "</w>"] for c in byte_chars] == list(range(256, 512))
    assert tok.bos_id == len(tok.vocab) - 2 and tok.eos_id == len(tok.vocab) - 1


def test_learned_words_become_single_tokens_and_unknown_words_still_encode():
    tok = bpe.Tokenizer(bpe.learn_merges(CORPUS))
    assert len(tok.encode("circle")) == 1
    assert len(tok.encode("zebra")) > 1  # falls back to byte symbols, never fails
    assert tok.encode("A  Large\tRED circle") == tok.encode("a large red circle")


def test_model_ids_have_bos_eos_pad_and_truncate_with_eos_last():
    tok = bpe.Tokenizer(bpe.learn_merges(CORPUS), context_length=8)
    ids = tok.encode_for_model("a red shape")
    assert len(ids) == 8 and ids[0] == tok.bos_id and ids[ids.index(tok.eos_id) + 1 :] == [0] * (8 - ids.index(tok.eos_id) - 1)
    long_ids = tok.encode_for_model(" ".join(["zebra"] * 20))
    assert len(long_ids) == 8 and long_ids[-1] == tok.eos_id


def test_save_and_load_round_trip(tmp_path):
    tok = bpe.Tokenizer(bpe.learn_merges(CORPUS))
    tok.save(tmp_path)
    again = bpe.Tokenizer.load(tmp_path)
    assert again.vocab == tok.vocab and again.encode("a large red circle") == tok.encode("a large red circle")
