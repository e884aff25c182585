"""find_heads: every kind in one table, unknown kinds refused, unsupported kinds skipped on request."""

import pytest

from circuits.heads import find_heads
from interp.testing import tiny_model


@pytest.fixture(scope="module")
def model():
    return tiny_model("gpt2")


def test_unknown_kind_is_named(model):
    with pytest.raises(ValueError, match=r"unknown head kind\(s\) \['wizard'\]"):
        find_heads(model, ["induction", "wizard"])


def test_induction_family_rows_are_only_the_kinds_asked_for(model):
    scores = find_heads(model, ["previous_token", "induction"])
    assert scores.kinds == ["previous_token", "induction"]
    assert len(scores.df) == 2 * model.n_layers * model.n_heads and scores.skipped == {}


def test_a_kind_the_tokenizer_cannot_express_raises_unless_skipped(model):
    with pytest.raises(ValueError, match="not a single token"):
        find_heads(model, ["previous_token", "successor"])
    scores = find_heads(model, ["previous_token", "successor"], skip_unsupported=True)
    assert scores.kinds == ["previous_token"]
    assert "not a single token" in scores.skipped["successor"]


def test_every_kind_skipped_is_an_error(model):
    with pytest.raises(ValueError, match="no head kind could be scored"):
        find_heads(model, ["successor"], skip_unsupported=True)
