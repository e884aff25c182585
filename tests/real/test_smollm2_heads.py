"""The head finders on SmolLM2-135M, each kind's heads backed by ablation against random heads."""

import pytest
import torch

from circuits.ablation import ablation_study
from circuits.evidence import evidence_task, task_metric
from circuits.head_ablations import head_ablations
from circuits.heads import find_heads
from circuits.heads.arithmetic_forms import solved_arithmetic_task

pytestmark = [pytest.mark.real, pytest.mark.slow]


@pytest.fixture(scope="module")
def induction_scores(smollm2):
    return find_heads(smollm2, ["previous_token", "duplicate_token", "induction"], seed=0)


def test_induction_heads_sit_in_the_middle_layers_after_previous_token_heads(induction_scores):
    induction = induction_scores.heads("induction")
    previous = induction_scores.heads("previous_token")
    assert len(induction) >= 3 and previous
    assert min(layer for layer, _ in induction) > min(layer for layer, _ in previous)
    top = induction_scores.df[induction_scores.df["kind"] == "induction"].nlargest(3, "score")
    assert (top["score"] > 0.6).all()


def test_ablating_the_induction_heads_hurts_induction_more_than_random_heads(smollm2, induction_scores):
    task = evidence_task(smollm2, "induction", n_prompts=32, seed=1)
    heads = induction_scores.heads("induction")
    result = head_ablations(smollm2, heads, task, metric=task_metric(task), n_random=3, seed=0)
    together = result.df.iloc[0]
    assert together["role"] == "beats random"
    # Far more than random: the induction heads remove most of the logit difference.
    assert together["ablated"] - together["baseline"] < 3 * together["random_effect"]
    assert together["ablated"] < 0.5 * together["baseline"]


def test_masking_the_top_retrieval_heads_cuts_needle_recall_far_more_than_random_heads(smollm2):
    scores = find_heads(smollm2, ["retrieval"], seed=0)
    retrieval = scores.df[scores.df["kind"] == "retrieval"]
    assert retrieval["is_head"].any()
    top = [(int(r.layer), int(r.head)) for r in retrieval.nlargest(10, "score").itertuples()]
    task = evidence_task(smollm2, "retrieval", n_prompts=16, seed=1)
    assert task.clean_tokens.shape[1] >= 300
    result = ablation_study(smollm2, top, task.clean_tokens, task.accuracy, mode="masking", n_random=3)
    row = result.df.iloc[0]
    assert row["baseline"] >= 0.3  # the model finds about half of the needles in 320 tokens
    assert row["ablated"] <= 0.5 * row["baseline"]
    assert row["baseline"] - row["ablated"] >= 2 * max(row["baseline"] - row["random_mean"], 0.1)


def test_arithmetic_is_found_in_the_form_the_model_solves(smollm2):
    # It fails digit-by-digit sums (about 0.2) and solves two-digit sums after three solved examples.
    task = solved_arithmetic_task(smollm2, n_prompts=16, seed=0)
    assert task.metadata["form"].iloc[0].endswith("3 solved examples first")
    assert task.metadata["form_accuracy"].iloc[0] >= 0.5
    with torch.no_grad():
        assert float(task.accuracy(smollm2.run(task.clean_tokens)).mean()) >= 0.5
