"""SAE circuit finder: fast path equals the plain loop, scores on hand-made codes, result object, errors."""

import json
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from circuits.circuit_tasks import zoo_circuit_tasks
from circuits.evaluation import FinderUnavailable, node_roc_auc
from circuits.sae_circuits import (
    SAECircuitConfig,
    edge_scores_from_codes,
    find_sae_circuit,
    find_sae_circuit_for_task,
    head_outputs,
    node_scores_from_codes,
    sae_circuit_reference,
    task_prompt_sets,
)
from interp.testing import tiny_model
from interp.zoo import zoo_names

FP32_NOISE_TOL = 1e-5
"""Head outputs computed by two contraction orders agree to float32 rounding."""

FAST = SAECircuitConfig(n_epochs=60, d_sae=50, input_scale="unit_rms")
"""Fewer epochs than the paper's 500 keep the loop twin quick; the method is the same. Tiny random
models' head outputs are too small for the raw setting (every feature dies), hence the rescaling."""


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def model(request):
    return tiny_model(request.param)


def prompt_sets(n_pos=8, n_neg=7):
    g = torch.Generator().manual_seed(1)
    return torch.randint(4, 64, (n_pos, 6), generator=g), torch.randint(4, 64, (n_neg, 5), generator=g)


def test_head_outputs_equal_hook_result(model):
    tokens = torch.randint(4, 64, (5, 7))
    fast = head_outputs(model, tokens, batch_size=2)
    model.set_use_attn_result(True)
    try:
        _, cache = model.run_with_cache(tokens, names_filter=lambda name: name.endswith("hook_result"))
    finally:
        model.set_use_attn_result(False)
    slow = torch.stack([cache[f"blocks.{layer}.attn.hook_result"].mean(1) for layer in range(2)], dim=1)
    assert fast.shape == (5, 2, 4, model.d_model)
    torch.testing.assert_close(fast, slow, atol=FP32_NOISE_TOL, rtol=0)


def test_fast_codes_and_scores_equal_reference_loop(model):
    pos, neg = prompt_sets()
    fast = find_sae_circuit(model, pos, neg, FAST, progress=False)
    slow = sae_circuit_reference(model, pos, neg, FAST)
    assert fast.train_examples == slow.train_examples
    assert torch.equal(fast.codes, slow.codes)
    assert torch.equal(fast.node_scores, slow.node_scores)
    assert torch.equal(fast.edge_scores, slow.edge_scores)
    # the reference restored the model's per-head-output setting
    assert not model.bridge.cfg.use_attn_result
    # codes vary across prompts and heads (the SAE is not degenerate)
    assert fast.codes.unique().numel() > 1


def test_raw_scale_on_tiny_outputs_collapses_codes_and_rescaling_fixes_it():
    model = tiny_model("gpt2")
    pos, neg = prompt_sets()
    raw = find_sae_circuit(model, pos, neg, SAECircuitConfig(n_epochs=60, d_sae=50), progress=False)
    assert raw.input_scale == 1.0 and raw.sae.stats.l0 == 0 and raw.codes.unique().tolist() == [0]
    scaled = find_sae_circuit(model, pos, neg, FAST, progress=False)
    assert scaled.sae.stats.l0 > 0 and scaled.codes.unique().numel() > 1


def test_scores_on_hand_made_codes():
    # 2 layers x 2 heads; 3 positives then 2 negatives
    codes = torch.tensor(
        [
            [[0, 1], [2, 3]],
            [[0, 4], [2, 3]],
            [[5, 1], [2, 3]],
            [[0, 1], [2, 6]],
            [[0, 1], [7, 3]],
        ]
    )
    is_positive = torch.tensor([True, True, True, False, False])
    node = node_scores_from_codes(codes, is_positive, d_sae=8)
    # L0H0: {0,5} - {0} = {5}; L0H1: {1,4} - {1} = {4}; L1H0: {2} - {2,7} = {}; L1H1: {3} - {6,3} = {}
    assert node.tolist() == [[1.0, 1.0], [0.0, 0.0]]
    edge = edge_scores_from_codes(codes, is_positive, d_sae=8)
    assert torch.equal(edge, edge.T) and edge.diagonal().abs().sum() == 0
    # heads L1H0 (node 2) and L1H1 (node 3): positive pairs {(2,3)}; negatives (2,6), (7,3): unique 1
    assert edge[2, 3] == 1
    # L0H0 and L1H0: positive pairs (0,2), (5,2); negatives (0,2), (0,7): unique {(5,2)}
    assert edge[0, 2] == 1
    # L0H0 and L0H1: positive (0,1), (0,4), (5,1); negatives (0,1): unique 2
    assert edge[0, 1] == 2


def test_result_tables_plot_json():
    model = tiny_model("gpt2")
    pos, neg = prompt_sets()
    r = find_sae_circuit(model, pos, neg, FAST, progress=False)
    assert len(r.df) == 8 and r.df["score"].tolist() == r.node_scores.flatten().tolist()
    assert len(r.edges_df) == 8 * 7 // 2
    assert (r.df["n_positive_codes"] >= r.df["score"]).all()
    top = r.heads(3)
    assert len(top) == 3 and r.node_scores[top[0]] == r.node_scores.max()
    assert r.head_scores().df["score"].tolist() == r.df["score"].tolist()
    assert r.plot() is not None
    data = json.loads(r.to_json())
    assert data["config"]["d_sae"] == 50 and 0 < data["sae_stats"]["l0"]
    assert r.runtime_s > 0


def test_task_adapter_and_empty_negatives():
    model = tiny_model("gpt2")
    pos, neg = prompt_sets()
    task = SimpleNamespace(name="demo", clean_tokens=pos, corrupted_tokens=neg)
    r = find_sae_circuit_for_task(model, task, FAST, progress=False)
    assert r.is_positive.sum() == len(pos)
    # A task's own negatives (prompts the model cannot complete) take the corrupted prompts' place.
    unsolvable = neg[:3]
    own = SimpleNamespace(name="demo", clean_tokens=pos, corrupted_tokens=neg, negative_tokens=unsolvable)
    assert task_prompt_sets(own)[1] is unsolvable
    r = find_sae_circuit_for_task(model, own, FAST, progress=False)
    assert (~r.is_positive).sum() == 3
    with pytest.raises(ValueError, match="no negative prompts"):
        find_sae_circuit(model, pos, torch.zeros(0, 6, dtype=torch.long), FAST, progress=False)
    with pytest.raises(ValueError, match="task 'demo' has no negatives"):
        find_sae_circuit_for_task(
            model, SimpleNamespace(name="demo", clean_tokens=pos, corrupted_tokens=None)
        )
    empty = SimpleNamespace(
        name="demo", clean_tokens=pos, corrupted_tokens=torch.zeros(0, 6, dtype=torch.long)
    )
    with pytest.raises(ValueError, match="task 'demo' has no negatives"):
        find_sae_circuit_for_task(model, empty)


def _organism_auc(name):
    if "organism" not in zoo_names():
        pytest.skip("no zoo organism under data/zoo")
    try:
        model, tasks = zoo_circuit_tasks("organism", n_prompts=100)
    except FinderUnavailable as err:
        pytest.skip(str(err))
    task = next((task for task in tasks if task.name == name), None)
    if task is None:
        pytest.skip(f"the organism's card names no heads for {name}")
    result = find_sae_circuit(model, *task_prompt_sets(task), progress=False)
    return node_roc_auc(result.node_scores, task.ground_truth, model=model)


@pytest.mark.parametrize("task", ["induction", "successor", "retrieval", "arithmetic"])
def test_sae_finder_node_auc_on_organism(task):
    """Acceptance: with the card's heads for the task as ground truth, node ROC AUC >= 0.85."""
    auc = _organism_auc(task)
    assert auc >= 0.85, f"{task}: node ROC AUC {auc:.3f}"


def _half_solved_task(model):
    """A task whose answers are the model's own argmax on even prompts and another token on odd ones."""
    from circuits.tasks.base import Task

    g = torch.Generator().manual_seed(3)
    clean = torch.randint(4, 64, (6, 5), generator=g)
    positions = torch.full((6,), 4)
    with torch.no_grad():
        top = model.run(clean)[:, -1].argmax(-1)
    answers = torch.where(torch.arange(6) % 2 == 0, top, (top + 1) % model.d_vocab)
    return Task(
        name="half",
        clean_tokens=clean,
        corrupted_tokens=torch.randint(4, 64, (6, 5), generator=g),
        answer_tokens=answers,
        wrong_tokens=(top + 2) % model.d_vocab,
        positions=positions,
        metadata=pd.DataFrame({"i": range(6)}),
    )


def test_positives_are_the_prompts_the_model_solves():
    """O'Neill & Bui's positives are prompts the model completes; a failed clean prompt is not one."""
    from circuits.circuit_tasks import circuit_task
    from circuits.sae_circuits import solved_prompts

    model = tiny_model("gpt2")
    task = _half_solved_task(model)
    solved = solved_prompts(model, task)
    assert solved.tolist() == [True, False] * 3
    positives, negatives = task_prompt_sets(task, model)
    assert torch.equal(positives, task.clean_tokens[0::2]) and negatives is task.corrupted_tokens
    assert torch.equal(task_prompt_sets(task)[0], task.clean_tokens)  # no model: every clean prompt
    ct = circuit_task(task, ["L0H0"], model=model)
    assert ct.solved.tolist() == solved.tolist()
    assert torch.equal(task_prompt_sets(ct)[0], task.clean_tokens[0::2])
    assert (find_sae_circuit_for_task(model, task, FAST, progress=False).is_positive.sum()) == 3


def test_solved_mask_errors():
    from circuits.sae_circuits import solved_prompts

    model = tiny_model("gpt2")
    pos, neg = prompt_sets()
    with pytest.raises(ValueError, match="cannot tell which prompts of task 'demo'"):
        solved_prompts(model, SimpleNamespace(name="demo", clean_tokens=pos))
    none = SimpleNamespace(
        name="demo", clean_tokens=pos, corrupted_tokens=neg, solved=torch.zeros(8, dtype=bool)
    )
    with pytest.raises(ValueError, match="solves none of task 'demo'"):
        task_prompt_sets(none)
    short = SimpleNamespace(
        name="demo", clean_tokens=pos, corrupted_tokens=neg, solved=torch.ones(3, dtype=bool)
    )
    with pytest.raises(ValueError, match=r"expected one flag per clean prompt, \(8,\)"):
        task_prompt_sets(short)


def test_discover_gives_the_sae_finder_the_tasks_negatives_and_solved_prompts(monkeypatch):
    from circuits import evaluation
    from circuits.evidence import discover_scores

    model = tiny_model("gpt2")
    task = _half_solved_task(model)
    task = type(task)(**{**task.__dict__, "negative_tokens": task.corrupted_tokens.flip(0)})
    seen = {}

    def spy(model, circuit_task):
        seen["task"] = circuit_task
        return torch.zeros(model.n_layers, model.n_heads)

    monkeypatch.setitem(evaluation.FINDERS, "sae", spy)
    discover_scores(model, task, "sae")
    assert seen["task"].negative_tokens is task.negative_tokens
    assert seen["task"].solved.tolist() == [True, False] * 3
