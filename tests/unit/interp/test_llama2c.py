"""Tests for interp.llama2c on the real stories260K llama2.c checkpoint."""

import struct
from pathlib import Path

import pytest
import torch

from interp.llama2c import (
    Llama2cConfig,
    convert_llama2c,
    load_llama2c_model,
    load_llama2c_tokenizer,
    read_llama2c_header,
)

torch.set_num_threads(1)

STORY = (
    "Once upon a time, there was a little girl named Lily. She loved to play outside "
    "in the park with her friends. One day, Lily saw a big red ball under a tree. "
    'She ran to the ball and picked it up. Her friend Tom came and said, "Can I play '
    'with the ball too?" Lily smiled and said, "Yes, we can play together!" They '
    "played with the ball all day long. When the sun went down, they went home. "
    "Lily was very happy because she had a good friend."
)

SENTENCES = [
    "Once upon a time",
    "Hello world!",
    "Tom and Lily went to the park.\nThey played all day.",
    "The café was closed, so they ate at home.",
    "Numbers 123, symbols {like} <these> & dashes - too; ok?",
    "  two leading spaces and a tab\there",
    "Über naïve 日本 words",
]

COMMON_WORDS = set(
    """a an the and but or so to of in on at with for from up down out into there
    was were is are be been had has have he she it they we you i his her him them
    their its my your one day time once upon little big girl boy named lily tom ben
    mom dad friend friends play played loved love wanted want saw see went go said
    very happy sad ball tree park toy toys dog cat bird fun can could not no yes
    that this then when what who all too did do get got made make like liked""".split()
)


def _llama2c_dir() -> Path:
    """Return the shared llama2.c model folder next to the repository root."""
    return Path(__file__).resolve().parents[3] / ".." / "shared" / "models" / "llama2c"


MODEL_DIR = _llama2c_dir()
CHECKPOINT = MODEL_DIR / "stories260K.bin"
TOKENIZER = MODEL_DIR / "tok512.bin"

pytestmark = pytest.mark.skipif(
    not (CHECKPOINT.is_file() and TOKENIZER.is_file()),
    reason=f"llama2.c stories260K files not found in {MODEL_DIR} (shared models folder absent)",
)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return convert_llama2c(CHECKPOINT, out_dir=tmp_path_factory.mktemp("llama2c_hf"))


def _read_vocab(path: Path) -> tuple[list[bytes], list[float]]:
    raw = path.read_bytes()
    pos, pieces, scores = 4, [], []
    while pos < len(raw):
        score, length = struct.unpack_from("<fi", raw, pos)
        pieces.append(raw[pos + 8 : pos + 8 + length])
        scores.append(score)
        pos += 8 + length
    return pieces, scores


def _reference_encode(text: str, pieces: list[bytes], scores: list[float]) -> list[int]:
    """Plain-Python port of llama2.c's ``encode`` (with BOS, without EOS)."""
    lookup = {piece: i for i, piece in enumerate(pieces)}
    tokens = [1]
    if not text:
        return tokens
    tokens.append(lookup[b" "])  # dummy prefix
    for char in text:
        encoded = char.encode("utf-8")
        if encoded in lookup:
            tokens.append(lookup[encoded])
        else:
            tokens.extend(3 + byte for byte in encoded)  # byte fallback
    while True:
        best_score, best_index, best_id = -1e10, -1, -1
        for i in range(1, len(tokens) - 1):
            merged = pieces[tokens[i]] + pieces[tokens[i + 1]]
            candidate = lookup.get(merged)
            if candidate is not None and scores[candidate] > best_score:
                best_score, best_index, best_id = scores[candidate], i, candidate
        if best_index < 0:
            return tokens
        tokens[best_index : best_index + 2] = [best_id]


def test_header():
    assert read_llama2c_header(CHECKPOINT) == Llama2cConfig(
        dim=64,
        hidden_dim=172,
        n_layers=5,
        n_heads=8,
        n_kv_heads=4,
        vocab_size=512,
        seq_len=512,
        shared_classifier=True,
    )


def test_story_loss_is_low(converted):
    model, tokenizer = converted
    ids = torch.tensor([tokenizer(STORY)["input_ids"]])
    with torch.no_grad():
        loss = model(ids, labels=ids).loss.item()
    assert loss < 1.0, f"mean next-token loss {loss:.3f} nats: weights converted wrongly?"


def test_greedy_continuation_is_fluent(converted):
    model, tokenizer = converted
    ids = torch.tensor([tokenizer("Once upon a time")["input_ids"]])
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=30, do_sample=False)
    assert out.shape[1] == ids.shape[1] + 30
    text = tokenizer.decode(out[0], skip_special_tokens=True)
    assert text.startswith("Once upon a time")
    assert text.isascii(), text
    words = [w.strip(".,!?;:\"'").lower() for w in text.split()]
    assert {"there", "was", "a"} <= set(words), text
    assert sum(w.isalpha() for w in words) >= 0.8 * len(words), text
    assert sum(w in COMMON_WORDS for w in words) >= 0.6 * len(words), text


def test_tokenizer_round_trip(converted):
    _, tokenizer = converted
    for text in SENTENCES:
        ids = tokenizer(text)["input_ids"]
        assert ids[0] == tokenizer.bos_token_id == 1
        assert tokenizer.decode(ids, skip_special_tokens=True) == text
    assert tokenizer.eos_token_id == 2 and tokenizer.unk_token_id == 0
    # "ü" is not in the 512-token vocabulary: it must go through byte fallback.
    assert "<0xC3>" in tokenizer.tokenize("Über")


def test_tokenizer_matches_llama2c_encode(converted, tmp_path):
    _, tokenizer = converted
    pieces, scores = _read_vocab(TOKENIZER)
    texts = [*SENTENCES, STORY, "", "a", "aaaa aaaa", 'He said: "I\'m here!"\n\nThe end.']
    for text in texts:
        assert tokenizer(text)["input_ids"] == _reference_encode(text, pieces, scores), text
    # A tokenizer converted on its own encodes the same way.
    standalone = load_llama2c_tokenizer(TOKENIZER, tmp_path / "tok")
    assert standalone(STORY)["input_ids"] == tokenizer(STORY)["input_ids"]


def test_unshared_classifier(converted, tmp_path):
    # A negative vocab_size means a separate classifier follows; reuse the embedding.
    raw = bytearray(CHECKPOINT.read_bytes())
    struct.pack_into("<i", raw, 20, -512)
    unshared = tmp_path / "unshared.bin"
    unshared.write_bytes(bytes(raw) + raw[28 : 28 + 512 * 64 * 4])
    assert not read_llama2c_header(unshared).shared_classifier
    model = load_llama2c_model(unshared)
    assert not model.config.tie_word_embeddings
    ids = torch.tensor([[1, 403, 407, 261, 378]])
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, converted[0](ids).logits)


def test_bad_inputs(tmp_path):
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(struct.pack("<7i", 64, 172, 5, 7, 4, 512, 512) + bytes(100))
    with pytest.raises(ValueError, match=r"dim=64.*n_heads=7"):
        read_llama2c_header(garbage)
    garbage.write_bytes(struct.pack("<7i", -3, 1 << 30, 5, 8, 4, 512, 512))
    with pytest.raises(ValueError, match=r"dim=-3, expected an integer in 1\.\.\d+"):
        read_llama2c_header(garbage)

    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(CHECKPOINT.read_bytes()[:1000])
    expected = CHECKPOINT.stat().st_size
    with pytest.raises(ValueError, match=rf"expected {expected} bytes.*got 1000 bytes"):
        convert_llama2c(truncated, TOKENIZER, tmp_path / "out")

    missing = tmp_path / "missing.bin"
    with pytest.raises(FileNotFoundError, match="missing.bin"):
        convert_llama2c(missing)
    with pytest.raises(FileNotFoundError, match="missing.bin"):
        load_llama2c_tokenizer(missing, tmp_path / "tok")

    # No tokenizer beside a copied checkpoint: the error lists the paths tried.
    lonely = tmp_path / "lonely" / "model.bin"
    lonely.parent.mkdir()
    lonely.write_bytes(CHECKPOINT.read_bytes())
    with pytest.raises(FileNotFoundError, match=r"tok512\.bin.*tokenizer\.bin"):
        convert_llama2c(lonely)

    # A tokenizer whose vocabulary size differs from the checkpoint's.
    short_tok = tmp_path / "short_tok.bin"
    raw = TOKENIZER.read_bytes()
    pieces, _ = _read_vocab(TOKENIZER)
    short_tok.write_bytes(raw[: len(raw) - 8 - len(pieces[-1])])
    with pytest.raises(ValueError, match="holds 511 tokens, expected 512"):
        convert_llama2c(CHECKPOINT, short_tok, tmp_path / "out2")
