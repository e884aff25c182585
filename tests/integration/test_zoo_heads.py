"""Acceptance: on every zoo card, each finder recovers the card's heads of its kind.

The cards were made by ``circuits.zoo.verify`` from single-head mean ablation and attention patterns,
never by these finders. A kind the card claims no heads for (not learned, or no head of that kind)
must get none from the finder either. Precision and recall must both reach 0.9 at the finder's
default threshold.
"""

import json
from functools import cache
from pathlib import Path

import pytest
import torch

from circuits.heads import find_heads
from interp import load_model

ZOO = Path(__file__).resolve().parents[2] / "data" / "zoo"

KINDS_BY_TASK = {
    "induction": ("previous_token", "duplicate_token", "induction"),
    "successor": ("successor",),
    "retrieval": ("retrieval",),
    "arithmetic": ("arithmetic",),
}

KNOWN_GAPS: dict[tuple[str, str], str] = {}
"""(zoo model, head kind) pairs the finder is known to miss, with the measured reason."""


def card(name: str) -> dict:
    return json.loads((ZOO / name / "card.json").read_text())


def cases():
    for path in sorted(ZOO.glob("*/card.json")):
        name = path.parent.name
        tasks = [task["name"] for task in card(name)["tasks"]]
        for task in tasks:
            for kind in KINDS_BY_TASK.get(task, ()):
                marks = []
                if (name, kind) in KNOWN_GAPS:
                    marks = [pytest.mark.xfail(reason=KNOWN_GAPS[name, kind], strict=False)]
                yield pytest.param(name, kind, id=f"{name}-{kind}", marks=marks)


@cache
def scores_of(name: str):
    torch.manual_seed(0)
    model = load_model(f"zoo:{name}", device="cpu")
    tasks = [task["name"] for task in card(name)["tasks"]]
    kinds = [kind for task in tasks for kind in KINDS_BY_TASK.get(task, ())]
    return find_heads(model, kinds, seed=0)


@pytest.mark.parametrize(("name", "kind"), list(cases()))
def test_finder_recovers_the_cards_heads(name, kind):
    truth = set(card(name)["heads"].get(kind, []))
    found = {f"L{layer}H{head}" for layer, head in scores_of(name).heads(kind)}
    if not truth:
        assert not found, f"{name}: the card claims no {kind} heads; the finder names {sorted(found)}"
        return
    precision = len(found & truth) / len(found) if found else 0.0
    recall = len(found & truth) / len(truth)
    assert precision >= 0.9 and recall >= 0.9, (
        f"{name} {kind}: precision {precision:.2f}, recall {recall:.2f}; "
        f"found {sorted(found)}, card {sorted(truth)}"
    )
