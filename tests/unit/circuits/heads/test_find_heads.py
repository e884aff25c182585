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


def test_the_kind_registry_is_one_table_every_finder_and_evidence_reads():
    from circuits.evidence import TASK_OF_KIND
    from circuits.heads import FINDERS, HEAD_KINDS, KINDS
    from circuits.tasks.registry import TASK_NAMES

    assert KINDS == tuple(HEAD_KINDS) and set(TASK_OF_KIND) == set(KINDS)
    for name, kind in HEAD_KINDS.items():
        assert name in FINDERS[kind.finder].kinds and kind.evidence_task in TASK_NAMES
    assert {k for finder in FINDERS.values() for k in finder.kinds} == set(KINDS)


def test_a_researchers_own_prompts_replace_the_default_inputs():
    import torch

    from circuits.heads import find_heads
    from circuits.heads.induction import find_induction_heads
    from interp.testing import tiny_model

    model = tiny_model("gpt2")
    span = torch.randint(4, 64, (3, 5))
    tokens = torch.cat([torch.ones(3, 1, dtype=torch.long), span, span], dim=1)
    given = find_heads(model, kinds="induction", inputs={"induction": tokens})
    direct = find_induction_heads(model, tokens).of("induction")
    assert given.df["score"].tolist() == direct.df["score"].tolist()
    assert given.df["score"].tolist() != find_heads(model, kinds="induction").df["score"].tolist()
    with pytest.raises(ValueError, match=r"inputs for unknown finder\(s\) \['wizard'\]"):
        find_heads(model, kinds="induction", inputs={"wizard": tokens})
