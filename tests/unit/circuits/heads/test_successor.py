"""Successor heads: a hand-built incrementing OV circuit scores 1, random heads score near chance."""

from dataclasses import replace

import pytest
import torch

from circuits.heads.successor import (
    TokenSet,
    effective_embeddings,
    effective_ov,
    find_successor_heads,
    succession_scores,
)
from interp.testing import tiny_model
from interp.weights.forward import mlp, normalize


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def model(request):
    return tiny_model(request.param)


DAYS = TokenSet(name="days", token_ids=tuple(range(20, 27)), cyclic=True)


def incrementing_weights(model, token_set, layer=1, head=3):
    """Weights where head (layer, head) maps each member's effective embedding to its successor."""
    w = model.weights
    ids = torch.tensor(token_set.token_ids)
    n = len(ids)
    x = effective_embeddings(w, ids)
    shift = torch.zeros(n, n)
    for i, j in token_set.pairs():
        shift[i, j] = 1.0
    W_V, W_O = w.W_V.clone(), w.W_O.clone()
    W_V[layer, head] = 0
    W_O[layer, head] = 0
    W_V[layer, head, :, :n] = torch.linalg.pinv(x)  # x @ W_V = [I | 0]
    W_O[layer, head, :n] = shift @ torch.linalg.pinv(
        w.W_U[:, ids]
    )  # -> shift @ W_U[:, S]^+ W_U[:, S] = shift
    return replace(w, W_V=W_V, W_O=W_O)


def test_a_hand_built_incrementing_head_scores_one(model):
    w = incrementing_weights(model, DAYS)
    scores = succession_scores(model, {"days": DAYS}, weights=w)["days"]
    assert scores[1, 3].item() == 1.0


def test_random_heads_score_near_chance(model):
    g = torch.Generator().manual_seed(0)
    sets = {
        f"set{k}": TokenSet(
            name=f"set{k}", token_ids=tuple(torch.randperm(60, generator=g)[:8].add(4).tolist())
        )
        for k in range(20)
    }
    mean_score = torch.stack(list(succession_scores(model, sets).values())).mean().item()
    chance = 1 / 8
    assert abs(mean_score - chance) < 0.1


def test_effective_embeddings_read_mlp0_the_embedding_or_their_sum(model):
    w = model.weights
    ids = torch.tensor([5, 6])
    ln2_b = w.ln2_b[0] if w.ln2_b is not None else None
    expected = mlp(w, 0, normalize(w.W_E[ids][None], w.ln2_w[0], ln2_b, w.norm_eps))[0]
    assert torch.allclose(effective_embeddings(w, ids, "mlp0"), expected)
    assert torch.equal(effective_embeddings(w, ids, "raw"), w.W_E[ids])
    assert torch.allclose(effective_embeddings(w, ids), w.W_E[ids] + expected)  # the default


def test_a_head_that_increments_the_residual_scores_one_only_when_read_so():
    """A head whose OV increments what a later head reads (embedding plus MLP0) scores 1.0 with
    ``resid``; read through MLP0's output alone, the same head looks like any other."""
    model = tiny_model("gpt2")
    w = model.weights
    ids = torch.tensor(DAYS.token_ids)
    x = effective_embeddings(w, ids, "resid")
    n = len(ids)
    shift = torch.zeros(n, n)
    for i, j in DAYS.pairs():
        shift[i, j] = 1.0
    W_V, W_O = w.W_V.clone(), w.W_O.clone()
    W_V[1, 3], W_O[1, 3] = 0, 0
    W_V[1, 3, :, :n] = torch.linalg.pinv(x)
    W_O[1, 3, :n] = shift @ torch.linalg.pinv(w.W_U[:, ids])
    edited = replace(w, W_V=W_V, W_O=W_O)
    assert succession_scores(model, {"days": DAYS}, weights=edited, embedding="resid")["days"][1, 3] == 1.0
    assert succession_scores(model, {"days": DAYS}, weights=edited, embedding="mlp0")["days"][1, 3] < 1.0


def test_effective_ov_matches_a_plain_product(model):
    w = model.weights
    ids = torch.tensor([7, 8, 9])
    x = effective_embeddings(w, ids)
    expected = x @ w.W_V[1, 2] @ w.W_O[1, 2] @ w.W_U[:, ids]
    assert torch.allclose(effective_ov(w, ids)[1, 2], expected, atol=1e-5)


def test_cyclic_sets_include_the_wrap_around_pair():
    assert DAYS.pairs()[-1] == (6, 0)
    assert TokenSet(name="n", token_ids=(1, 2, 3)).pairs() == [(0, 1), (1, 2)]


def test_find_successor_heads_breaks_down_per_set(model):
    sets = {"days": DAYS, "other": TokenSet(name="other", token_ids=(30, 31, 32, 33))}
    scores = find_successor_heads(model, sets)
    assert {"succession_days", "succession_other", "chance"} <= set(scores.df.columns)
    assert scores.df["chance"].iloc[0] == pytest.approx((1 / 7 + 1 / 4) / 2)


def test_bad_sets_are_named(model):
    with pytest.raises(ValueError, match="token set 'tiny' has 1 members"):
        succession_scores(model, {"tiny": TokenSet(name="tiny", token_ids=(5,))})
    with pytest.raises(ValueError, match="token set 'big' has ids outside the vocabulary 0..63"):
        succession_scores(model, {"big": TokenSet(name="big", token_ids=(5, 64))})


def test_sets_read_from_a_task_score_the_pairs_its_prompts_ask(model):
    """A successor task's wrong token is the member before its answer; those pairs are what is scored."""
    from circuits.heads.successor import token_sets_from_task
    from circuits.tasks import make_task

    ids = DAYS.token_ids

    def task(members, answers):
        prompts = [[1, ids[k]] for k in members]
        wrong = [ids[k] for k in members]
        return make_task("my_days", prompts, prompts, answers, wrong, [1] * len(members), [{}] * len(members))

    picks = [0, 2, 6, 2]  # Monday, Wednesday, Sunday (wrapping to Monday), Wednesday again
    sets = token_sets_from_task(task(picks, [ids[(k + 1) % 7] for k in picks]))
    assert list(sets) == ["my_days"]  # no "set" column: one set named after the task
    days = sets["my_days"]
    links = [(days.token_ids[i], days.token_ids[j]) for i, j in days.pairs()]
    assert links == [(ids[0], ids[1]), (ids[2], ids[3]), (ids[6], ids[0])]
    assert succession_scores(model, sets, weights=incrementing_weights(model, DAYS))["my_days"][1, 3] == 1.0
    with pytest.raises(ValueError, match="successor set 'my_days' of task 'my_days' has one distinct token"):
        token_sets_from_task(task([0], [ids[0]]))
    with pytest.raises(ValueError, match="has 4 distinct tokens in its prompts; expected at least 5"):
        token_sets_from_task(task([0, 2], [ids[1], ids[3]]))  # two pairs: near chance whatever a head does
