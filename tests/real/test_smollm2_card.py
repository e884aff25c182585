"""The committed card of SmolLM2-135M: its accuracies and head claims hold when checked afresh.

Samples each task's prompts again from the card's seeds and ablates heads with
:mod:`circuits.ablation` (not the verification code that wrote the card), like the zoo checkpoints'
test does for the zoo's cards.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from circuits.ablation import ablation_hooks, evaluate
from circuits.evidence import evidence_task
from circuits.model_card import CARD_TASKS
from circuits.zoo.verify import parse_label

pytestmark = [pytest.mark.real, pytest.mark.slow]

CARD = Path(__file__).parents[2] / "data" / "cards" / "smollm2-135m" / "card.json"
ACCURACY_TOL = 0.02
"""The card's accuracies are remeasured on the same prompts; only BLAS rounding may differ."""
N_RANDOM = 3


@pytest.fixture(scope="module")
def card():
    return json.loads(CARD.read_text())


def _tasks(model, card, name, n_prompts):
    seed = card["made"]["evaluation"]["seed"] + 1000 * CARD_TASKS.index(name)
    n = card["made"]["evaluation"]["n_prompts"]
    task = evidence_task(model, name, n_prompts=n, seed=seed)
    reference = evidence_task(model, name, n_prompts=n, seed=seed + 1)
    keep = torch.arange(n_prompts)
    return task.subset(keep), reference.subset(keep)


def _accuracy(model, task, reference, heads=()):
    hooks = []
    if heads:
        hooks = ablation_hooks(model, list(heads), "mean", task.clean_tokens, reference.clean_tokens)
    return float(evaluate(model, task.clean_tokens, task.accuracy, hooks).mean())


def test_the_card_covers_every_task_and_names_the_model(card, smollm2):
    assert set(card["accuracy"]) | set(card["skipped"]) == set(CARD_TASKS)
    assert card["name"] == str(smollm2.spec)
    a = card["architecture"]
    assert (a["n_layers"], a["n_heads"], a["n_kv_heads"], a["d_model"]) == (30, 9, 3, 576)


@pytest.mark.parametrize("name", CARD_TASKS)
def test_each_task_claim_holds_when_ablated_afresh(card, smollm2, name):
    evidence = {e["task"]: e for e in card["evidence"]}
    if name not in evidence:
        pytest.skip(f"the card skips {name}: {card['skipped'][name]}")
    e = evidence[name]
    task, reference = _tasks(smollm2, card, name, e["n_prompts"])
    assert task.clean_tokens.shape[1] == e["n_tokens"]
    base = _accuracy(smollm2, task, reference)
    assert abs(base - card["accuracy"][name]) <= ACCURACY_TOL, (name, base)
    if not e["learned"]:
        assert not e["task_heads"]
        return
    claimed = [parse_label(h) for h in e["task_heads"]]
    tried = [parse_label(h) for h in e["joint_ablation"]["heads"]]
    if not claimed:
        # Distributed: the heads verification tried together do not cut accuracy to half.
        assert _accuracy(smollm2, task, reference, tried) > 0.5 * base - ACCURACY_TOL, (name, tried)
        return
    assert _accuracy(smollm2, task, reference, claimed) <= 0.5 * base, (name, claimed)
    heads = [(layer, head) for layer in range(smollm2.n_layers) for head in range(smollm2.n_heads)]
    others = [h for h in heads if h not in claimed]
    rng = np.random.default_rng(0)
    for _ in range(N_RANDOM):
        pick = [others[i] for i in rng.choice(len(others), size=len(claimed), replace=False)]
        assert _accuracy(smollm2, task, reference, pick) > 0.5 * base, (name, pick)
