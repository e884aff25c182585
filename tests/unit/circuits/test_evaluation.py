"""Circuit metrics (ROC AUC, faithfulness, CPR/CMD) and the finder comparison runner."""

import json

import pandas as pd
import pytest
import torch

from circuits.ablation import ablation_hooks, evaluate
from circuits.circuit_tasks import circuit_task, ground_truth_from_card
from circuits.evaluation import (
    FINDERS,
    CircuitTask,
    FinderUnavailable,
    compare_finders,
    cpr_cmd,
    edge_roc_auc,
    faithfulness,
    faithfulness_curve,
    node_roc_auc,
    parse_heads,
    rank_heads,
)
from interp.testing import tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model():
    return tiny_model("gpt2")


def logit_diff(logits):
    return logits[:, -1, 5] - logits[:, -1, 6]


@pytest.fixture(scope="module")
def task():
    g = torch.Generator().manual_seed(3)
    clean = torch.randint(4, 64, (12, 6), generator=g)
    corrupted = clean.clone()
    corrupted[:, 1] = torch.randint(4, 64, (12,), generator=g)
    return CircuitTask(
        name="toy",
        clean_tokens=clean,
        corrupted_tokens=corrupted,
        metric=logit_diff,
        ground_truth=["L1H0", (0, 2)],
    )


def test_node_roc_auc():
    scores = torch.tensor([[0.9, 0.1, 0.3], [0.2, 0.8, 0.0]])
    assert node_roc_auc(scores, [(0, 0), "L1H1"]) == 1.0
    assert node_roc_auc(-scores, [(0, 0), "L1H1"]) == 0.0
    assert node_roc_auc(scores, [(0, 0), (1, 2)]) == pytest.approx(0.5)


def test_ground_truth_with_heads_the_model_lacks(model):
    scores = torch.zeros(2, 4)
    with pytest.raises(ValueError, match=r"heads the model does not have: \['L5H0', 'L1H7'\]"):
        node_roc_auc(scores, ["L5H0", (1, 7), (0, 1)], model=model)
    with pytest.raises(ValueError, match="cannot read head 'X1'"):
        parse_heads(["X1"], 2, 4)
    with pytest.raises(ValueError, match="both in and out"):
        node_roc_auc(scores, [])


def test_edge_roc_auc():
    # 1 layer x 3 heads: heads 0 and 2 are the circuit
    edges = torch.tensor([[0.0, 0.1, 5.0], [0.1, 0.0, 0.2], [5.0, 0.2, 0.0]])
    assert edge_roc_auc(edges, ["L0H0", "L0H2"], n_heads=3) == 1.0
    assert edge_roc_auc(edges, ["L0H0"], n_heads=3, ground_truth_edges=[("L0H1", "L0H2")]) == 0.5


def test_faithfulness_matches_manual_ablation(model, task):
    heads = [(0, 1), (1, 3)]
    r = faithfulness(model, heads, task.clean_tokens, logit_diff)
    every = [(layer, head) for layer in range(2) for head in range(4)]
    outside = [h for h in every if h not in heads]
    tokens = task.clean_tokens
    full = evaluate(model, tokens, logit_diff).mean().item()
    none = evaluate(model, tokens, logit_diff, ablation_hooks(model, every, "mean", tokens)).mean().item()
    kept = evaluate(model, tokens, logit_diff, ablation_hooks(model, outside, "mean", tokens)).mean().item()
    assert (
        r.full == pytest.approx(full) and r.none == pytest.approx(none) and r.circuit == pytest.approx(kept)
    )
    assert r.faithfulness == pytest.approx((kept - none) / (full - none))
    every_head = faithfulness(model, every, tokens, logit_diff)
    assert every_head.faithfulness == pytest.approx(1.0)


def test_curve_and_cpr_cmd(model, task):
    scores = torch.arange(8.0).reshape(2, 4)
    assert rank_heads(scores)[:2] == [(1, 3), (1, 2)]
    curve = faithfulness_curve(model, scores, task.clean_tokens, logit_diff)
    assert curve["n_heads"].tolist() == list(range(9))
    assert curve["faithfulness"].iloc[0] == pytest.approx(0.0) and curve["faithfulness"].iloc[
        -1
    ] == pytest.approx(1.0)
    k3 = faithfulness(model, rank_heads(scores)[:3], task.clean_tokens, logit_diff).faithfulness
    assert curve["faithfulness"].iloc[3] == pytest.approx(k3)
    # hand-made curves: f = x gives CPR 1/2 and CMD 1/2; a perfect circuit gives CPR 1 and CMD 0
    x = [0.0, 0.25, 0.5, 0.75, 1.0]
    assert cpr_cmd(pd.DataFrame({"fraction": x, "faithfulness": x})) == pytest.approx((0.5, 0.5))
    assert cpr_cmd(pd.DataFrame({"fraction": x, "faithfulness": [1.0] * 5})) == pytest.approx((1.0, 0.0))


def test_compare_finders(model, task):
    def oracle(model, task):
        grid = torch.zeros(model.n_layers, model.n_heads)
        for layer, head in parse_heads(task.ground_truth, model.n_layers, model.n_heads):
            grid[layer, head] = 1.0
        return grid

    def missing(model, task):
        raise FinderUnavailable("circuits.nowhere is not available")

    result = compare_finders(
        model, [task], {"oracle": oracle, "sae": FINDERS["sae"], "missing": missing}, curve=True
    )
    df = result.df.set_index("finder")
    assert df.loc["oracle", "auc"] == 1.0
    assert df.loc["oracle", "faithfulness"] == pytest.approx(df.loc["oracle", "ground_truth_faithfulness"])
    assert 0.0 <= df.loc["sae", "auc"] <= 1.0 and df.loc["sae", "runtime_s"] > 0
    assert "not available" in df.loc["missing", "error"] and pd.isna(df.loc["missing", "auc"])
    assert result.plot() is not None
    assert json.loads(result.to_json())["rows"][0]["task"] == "toy"
    with pytest.raises(ValueError, match="unknown finder"):
        compare_finders(model, [task], ["nope"])


def test_compare_finders_rejects_a_ground_truth_it_cannot_rank_against(model, task):
    from dataclasses import replace

    with pytest.raises(ValueError, match="task 'toy' has no ground-truth heads"):
        compare_finders(model, [replace(task, ground_truth=[])], ["sae"])
    every = [(layer, head) for layer in range(model.n_layers) for head in range(model.n_heads)]
    with pytest.raises(ValueError, match="task 'toy': the ground truth names all 8 heads"):
        compare_finders(model, [replace(task, ground_truth=every)], ["sae"])


def test_compare_finders_without_ground_truth_ranks_by_faithfulness_and_overlap(model, task):
    from dataclasses import replace

    def ramp(model, task):
        return torch.arange(8.0).reshape(2, 4)

    def reverse(model, task):
        return -torch.arange(8.0).reshape(2, 4)

    unknown = replace(task, ground_truth=[])
    result = compare_finders(
        model, [unknown], {"ramp": ramp, "reverse": reverse}, top_k=3, sizes=[0, 1, 3, 8]
    )
    df = result.df.set_index("finder")
    assert df["auc"].isna().all() and df["ground_truth_faithfulness"].isna().all()
    assert df.loc["ramp", "heads"] == "L1H3,L1H2,L1H1" and df.loc["reverse", "heads"] == "L0H0,L0H1,L0H2"
    top3 = faithfulness(model, [(1, 3), (1, 2), (1, 1)], task.clean_tokens, logit_diff).faithfulness
    assert df.loc["ramp", "faithfulness"] == pytest.approx(top3)
    curve = result.curves[("toy", "ramp")]
    assert curve["n_heads"].tolist() == [0, 1, 3, 8]
    assert (df.loc["ramp", "cpr"], df.loc["ramp", "cmd"]) == pytest.approx(cpr_cmd(curve))
    overlap = result.overlap("toy", 3)
    assert overlap.loc["ramp", "ramp"] == 1.0 and overlap.loc["ramp", "reverse"] == 0.0
    assert result.overlap("toy", 8).loc["ramp", "reverse"] == 1.0
    with pytest.raises(ValueError, match="pass top_k"):
        compare_finders(model, [unknown], {"ramp": ramp})
    with pytest.raises(ValueError, match=r"top_k=9; expected 1..8"):
        compare_finders(model, [unknown], {"ramp": ramp}, top_k=9)
    with pytest.raises(ValueError, match="no scores for task 'other'"):
        result.overlap("other", 3)


@pytest.mark.parametrize("name", ["activation_patching", "eap", "eap_ig"])
def test_patching_finders_give_head_grids(model, task, name):
    try:
        grid = FINDERS[name](model, task)
    except FinderUnavailable as err:
        pytest.skip(str(err))
    assert grid.shape == (2, 4) and torch.isfinite(grid).all() and (grid >= 0).all()


def test_ground_truth_from_card():
    card = {"heads": {"induction": ["L1H2", [1, 3]], "previous_token": [{"layer": 0, "head": 1}]}}
    assert ground_truth_from_card(card) == [(1, 2), (1, 3), (0, 1)]
    assert ground_truth_from_card(card, roles=["previous_token"]) == [(0, 1)]
    nested = {"heads": {"induction": {"heads": ["L1H2"], "ablation": 0.7}, "x": [{"layer": 0, "head": 3}]}}
    assert ground_truth_from_card(nested) == [(1, 2), (0, 3)]
    records = {"heads": [{"layer": 0, "head": 0, "role": "a"}, {"layer": 1, "head": 1, "role": "b"}]}
    assert ground_truth_from_card(records, roles=["b"]) == [(1, 1)]


def test_task_circuit_from_card_reads_the_task_evidence_then_falls_back_to_roles():
    from circuits.circuit_tasks import task_circuit_from_card

    card = {
        "heads": {"induction": ["L1H2"], "previous_token": ["L0H1", "L0H0"], "retrieval": ["L1H0"]},
        "evidence": [
            {"task": "induction", "heads": {"L1H2": "induction", "L0H1": "previous_token"}},
            {"task": "retrieval", "heads": {"L1H0": "retrieval", "L0H0": "previous_token"}},
            {"task": "successor", "learned": False, "heads": {"L0H2": "successor_other"}},
        ],
    }
    # A role shared between tasks (previous_token) counts only where the task's evidence names the head.
    assert task_circuit_from_card(card, "induction") == [(1, 2), (0, 1)]
    assert task_circuit_from_card(card, "retrieval") == [(1, 0), (0, 0)]
    assert task_circuit_from_card(card, "successor") == []  # not learned: no circuit
    roles_only = {"heads": card["heads"]}
    assert task_circuit_from_card(roles_only, "retrieval") == [(0, 1), (0, 0), (1, 0)]
    assert task_circuit_from_card(roles_only, "arithmetic") == []


def test_organism_retrieval_circuit_counts_its_previous_token_heads():
    """The key-value lookup finds the value through previous-token heads, as induction does: with them
    the card's retrieval circuit keeps the whole metric, without them a small part of it."""
    from circuits.circuit_tasks import zoo_circuit_tasks
    from interp.zoo import zoo_names
    from interp.zoo.registry import zoo_card

    if "organism" not in zoo_names():
        pytest.skip("no zoo organism under data/zoo")
    model, tasks = zoo_circuit_tasks("organism", n_prompts=32)
    task = next(t for t in tasks if t.name == "retrieval")
    card = zoo_card("organism")
    previous = ground_truth_from_card(card, ["previous_token"])
    assert previous and set(previous) <= set(task.ground_truth)
    retrieval_only = ground_truth_from_card(card, ["retrieval", "retrieval_other"])
    kept = faithfulness(model, task.ground_truth, task.clean_tokens, task.metric).faithfulness
    without = faithfulness(model, retrieval_only, task.clean_tokens, task.metric).faithfulness
    assert kept >= 0.9 and without < 0.5, (kept, without)


def test_circuit_task_from_a_task_reads_its_metric_positions(model):
    induction = pytest.importorskip("circuits.tasks.induction")
    task = induction.induction_task(model, n_prompts=6, seq_len=12, seed=0)
    ct = circuit_task(task, ["L1H0"])
    assert ct.name == "induction" and ct.ground_truth == ["L1H0"]
    logits = model.run(task.clean_tokens)
    torch.testing.assert_close(ct.metric(logits), task.logit_diff(logits))
    # the patching finders read the task's own metric positions, not the last position
    grid = FINDERS["activation_patching"](model, ct)
    assert grid.shape == (2, 4) and torch.isfinite(grid).all()
    with pytest.raises(ValueError, match="no metric 'nope'"):
        circuit_task(task, ["L1H0"], metric="nope")
