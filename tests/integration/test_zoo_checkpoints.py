"""The shipped zoo checkpoints: documented accuracy, and the card's heads carry the tasks causally.

Loads each checkpoint through ``load_model("zoo:NAME")`` (never retrains), samples each task's
documented evaluation prompts afresh from the card's seed, and mean-ablates heads with
:mod:`circuits.ablation` (an implementation independent of the card's verification code).
"""

import numpy as np
import pytest

from circuits.ablation import ablation_hooks, evaluate
from circuits.tasks import zoo_task
from circuits.zoo.verify import parse_label
from interp import load_model
from interp.zoo import zoo_names
from interp.zoo.registry import zoo_card

ZOO = ("induction-2l", "successor-2l", "arithmetic", "organism")
ACCURACY_TOL = 0.02
N_RANDOM = 5


def _accuracy(model, task, heads=(), reference=None):
    hooks = []
    if heads:
        hooks = ablation_hooks(model, list(heads), "mean", task.clean_tokens, reference.clean_tokens)
    return float(evaluate(model, task.clean_tokens, task.accuracy, hooks).mean())


def _tasks(name):
    card = zoo_card(name)
    model = load_model(f"zoo:{name}", device="cpu")
    ev = card["evaluation"]
    out = []
    for k, spec in enumerate(card["tasks"]):
        seed = ev["seed"] + 1000 * k
        task = zoo_task(model, spec["name"], spec["kwargs"], n_prompts=ev["n_prompts"], seed=seed)
        reference = zoo_task(model, spec["name"], spec["kwargs"], n_prompts=ev["n_prompts"], seed=seed + 1)
        out.append((task, reference))
    return card, model, out


@pytest.fixture(scope="module", params=ZOO)
def zoo_model(request):
    if request.param not in zoo_names():
        pytest.fail(f"zoo checkpoint {request.param!r} is missing from data/zoo")
    return _tasks(request.param)


def test_documented_accuracy(zoo_model):
    card, model, tasks = zoo_model
    for task, _ in tasks:
        got = _accuracy(model, task)
        assert abs(got - card["accuracy"][task.name]) <= ACCURACY_TOL, (card["name"], task.name, got)


def test_card_heads_carry_each_task(zoo_model):
    card, model, tasks = zoo_model
    all_heads = [(layer, head) for layer in range(model.n_layers) for head in range(model.n_heads)]
    for task, reference in tasks:
        heads = [parse_label(h) for h in card["task_heads"][task.name]]
        if not heads:
            continue  # the card claims no heads for this task (documented there)
        base = _accuracy(model, task)
        ablated = _accuracy(model, task, heads, reference)
        assert ablated <= 0.5 * base, (card["name"], task.name, heads, base, ablated)
        rng = np.random.default_rng(0)
        others = [h for h in all_heads if h not in heads]
        for _ in range(N_RANDOM):
            pick = [others[i] for i in rng.choice(len(others), size=len(heads), replace=False)]
            assert _accuracy(model, task, pick, reference) > 0.5 * base, (card["name"], task.name, pick)


def test_organism_claims_heads_for_tasks():
    card = zoo_card("organism")
    assert {t["name"] for t in card["tasks"]} == {"induction", "successor", "retrieval", "arithmetic"}
    claimed = {task for task, heads in card["task_heads"].items() if heads}
    assert "induction" in claimed
    # Retrieval is learned (key-value recall) and its heads are claimed from ablation.
    assert card["accuracy"]["retrieval"] >= 0.9 and "retrieval" in claimed


def test_card_backup_heads_take_over(zoo_model):
    """A backup head changes little alone, but ablated with its role's heads it hurts beyond them."""
    card, model, tasks = zoo_model
    backups = [
        (task, reference, label, b)
        for task, reference in tasks
        for e in card["evidence"]
        if e["task"] == task.name
        for label, b in e.get("backup", {}).items()
    ]
    if card["name"] == "organism":
        assert any(label == "L0H0" for _, _, label, _ in backups), "the organism's L0H0 backs up L0H1"
    for task, reference, label, b in backups:
        role_heads = [parse_label(h) for h in b["with"]]
        base = _accuracy(model, task)
        alone = _accuracy(model, task, [parse_label(label)], reference)
        with_role = _accuracy(model, task, role_heads, reference)
        both = _accuracy(model, task, [*role_heads, parse_label(label)], reference)
        assert base - alone < 0.05, (label, base, alone)
        assert with_role - both >= 0.05, (label, with_role, both)
