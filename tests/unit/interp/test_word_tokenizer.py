"""Word-level tokenizers: one id per word, specials first, bad vocabularies refused."""

import pytest

from interp.word_tokenizer import SPECIALS, word_level_tokenizer


def test_each_word_is_its_index_and_unknown_words_are_unk(tmp_path):
    tok = word_level_tokenizer([*SPECIALS, "one", "two"], tmp_path / "tok")
    assert tok("two one three")["input_ids"] == [1, 5, 4, 0]
    assert (tmp_path / "tok" / "tokenizer.json").is_file()


def test_a_vocabulary_without_the_specials_first_is_refused():
    with pytest.raises(ValueError, match=r"must start with \['<unk>', '<bos>', '<eos>', '<pad>'\]"):
        word_level_tokenizer(["one", *SPECIALS])


def test_a_repeated_word_is_refused():
    with pytest.raises(ValueError, match="must not repeat a word"):
        word_level_tokenizer([*SPECIALS, "one", "one"])
