"""Attention sinks and ACT: the scores and the calibration against plain loops, the hooks against a
fixed-pattern patch, the head filter and the study against direct evaluation."""

import dataclasses

import pytest
import torch

from circuits.ablation import evaluate
from circuits.attention_sinks import (
    act_hooks,
    act_study,
    calibrate_pattern,
    find_sinks,
    select_act_heads,
    sink_scores,
)
from circuits.evidence import task_metric
from circuits.tasks.ioi import ioi_task
from interp.engine.patches import hook_name
from interp.testing import tiny_model, tiny_model_with
from interp.word_tokenizer import SPECIALS, word_level_tokenizer

pytestmark = pytest.mark.usefixtures("one_thread")

TOL = 1e-5
NAMES = ("Mary", "John", "Tom", "Anna")


def random_pattern(batch, heads, n_q, n_k, seed=0):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(batch, heads, n_q, n_k, generator=g) * 2
    query_pos = torch.arange(n_k - n_q, n_k)
    future = torch.arange(n_k)[None, :] > query_pos[:, None]
    return scores.masked_fill(future, float("-inf")).softmax(-1)


def loop_sink_scores(pattern):
    b, h, n_q, n_k = pattern.shape
    out = torch.zeros(b, h, n_k)
    for key in range(n_k):
        rows = [i for i in range(n_q) if n_k - n_q + i >= key]
        for bi in range(b):
            for hi in range(h):
                out[bi, hi, key] = sum(pattern[bi, hi, i, key] for i in rows) / max(len(rows), 1)
    return out


def loop_calibrate(pattern, heads, threshold, beta):
    out = pattern.clone()
    scores = loop_sink_scores(pattern)
    for b in range(pattern.shape[0]):
        for h in heads:
            sinks = [k for k in range(1, pattern.shape[3]) if scores[b, h, k] > threshold]
            for i in range(pattern.shape[2]):
                row = pattern[b, h, i]
                removed = sum(row[k] for k in sinks) * (1 - beta) if sinks else torch.tensor(0.0)
                others = [k for k in range(pattern.shape[3]) if k not in sinks]
                mass = sum(row[k] for k in others)
                if mass <= 0:
                    continue
                for k in range(pattern.shape[3]):
                    out[b, h, i, k] = row[k] * beta if k in sinks else row[k] + removed * row[k] / mass
    return out


@pytest.mark.parametrize("n_q", [7, 4])
def test_sink_scores_are_the_mean_attention_from_the_queries_that_see_each_key(n_q):
    pattern = random_pattern(2, 3, n_q, 7)
    torch.testing.assert_close(sink_scores(pattern), loop_sink_scores(pattern), atol=TOL, rtol=0)


@pytest.mark.parametrize("beta", [0.0, 0.4, 0.9])
def test_calibration_equals_the_rule_row_by_row_and_keeps_rows_summing_to_one(beta):
    pattern = random_pattern(2, 4, 8, 8, seed=1)
    calibrated = calibrate_pattern(pattern, [0, 2], threshold=0.12, beta=beta)
    torch.testing.assert_close(calibrated, loop_calibrate(pattern, [0, 2], 0.12, beta), atol=TOL, rtol=0)
    torch.testing.assert_close(calibrated.sum(-1), torch.ones(2, 4, 8), atol=TOL, rtol=0)
    torch.testing.assert_close(calibrated[:, [1, 3]], pattern[:, [1, 3]], atol=TOL, rtol=0)
    assert (calibrated[:, [0, 2]] - pattern[:, [0, 2]]).abs().max() > 100 * TOL  # the heads were calibrated


def test_beta_one_and_the_first_token_are_left_alone():
    pattern = random_pattern(1, 2, 6, 6, seed=2)
    torch.testing.assert_close(calibrate_pattern(pattern, [0, 1], beta=1.0), pattern, atol=TOL, rtol=0)
    first_only = torch.zeros(1, 1, 5, 5)
    first_only[..., 0] = 1.0  # every query attends to the first token alone
    torch.testing.assert_close(calibrate_pattern(first_only, [0], beta=0.0), first_only, atol=TOL, rtol=0)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_act_hooks_equal_patching_in_the_calibrated_pattern_by_hand(arch):
    model = tiny_model(arch)
    tokens = torch.randint(4, 64, (3, 9))
    heads = [(0, 1), (1, 0)]
    hooks = act_hooks(model, heads, threshold=0.15, beta=0.3)
    with torch.no_grad():
        act = model.run_with_hooks(tokens, fwd_hooks=hooks)
        clean = model.run(tokens)
        # ACT on layer 0 cannot change layer 0's own pattern input, so a fixed patch of the calibrated
        # clean pattern there, then of layer 1's pattern computed after it, is the same computation.
        _, cache = model.run_with_cache(tokens, names_filter=[hook_name(0, "pattern")])
        fixed0 = calibrate_pattern(cache[hook_name(0, "pattern")], [1], threshold=0.15, beta=0.3)
        patch0 = (hook_name(0, "pattern"), lambda p, hook: fixed0)
        seen = {}

        def record(p, hook):
            seen["pattern"] = p.clone()
            return p

        model.run_with_hooks(tokens, fwd_hooks=[patch0, (hook_name(1, "pattern"), record)])
        fixed1 = calibrate_pattern(seen["pattern"], [0], threshold=0.15, beta=0.3)
        by_hand = model.run_with_hooks(
            tokens, fwd_hooks=[patch0, (hook_name(1, "pattern"), lambda p, hook: fixed1)]
        )
        unchanged = model.run_with_hooks(tokens, fwd_hooks=act_hooks(model, heads, beta=1.0))
    torch.testing.assert_close(act, by_hand, atol=TOL, rtol=0)
    torch.testing.assert_close(unchanged, clean, atol=TOL, rtol=0)


def test_find_sinks_lists_every_key_over_the_threshold_and_summarises_each_head():
    model = tiny_model("llama")
    tokens = torch.randint(4, 64, (2, 10))
    sinks = find_sinks(model, tokens, threshold=0.2)
    assert sinks.scores.shape == (model.n_layers, model.n_heads, 2, 10)
    assert len(sinks.df) == int((sinks.scores > 0.2).sum())
    assert sinks.df["score"].gt(0.2).all()
    assert sinks.df["first"].equals(sinks.df["pos"] == 0)
    # The first key is seen by every query of a causal pattern and the last by one: row means differ,
    # but key 0's score is the mean of column 0.
    summary = sinks.summary()
    assert len(summary) == model.n_layers * model.n_heads
    assert summary["first_score"].between(0, 1).all()
    assert sinks.plot().data


@pytest.fixture(scope="module")
def ioi(tmp_path_factory):
    words = [*SPECIALS, *NAMES, *"When and went to the store, gave a drink".split()]
    model = tiny_model_with(word_level_tokenizer(words, tmp_path_factory.mktemp("act-tok")), seed=0)
    return (
        model,
        ioi_task(model, n_prompts=8, names=NAMES, seed=0),
        ioi_task(model, n_prompts=8, names=NAMES, seed=1),
    )


def test_the_head_filter_scores_each_head_calibrated_alone(ioi):
    model, task, _ = ioi
    selection = select_act_heads(model, task, threshold=0.1, beta=0.4, progress=False)
    assert len(selection) == model.n_layers * model.n_heads
    metric = task_metric(task)
    base = float(evaluate(model, task.clean_tokens, metric).mean())
    for row in selection.itertuples():
        value = evaluate(model, task.clean_tokens, metric, act_hooks(model, [(row.layer, row.head)]))
        assert row.calibrated == pytest.approx(float(value.mean()), abs=TOL)
        assert row.baseline == pytest.approx(base, abs=TOL)
        assert row.selected == (row.gain > 0)
    assert selection["gain"].is_monotonic_decreasing


def test_the_study_reports_no_act_act_and_random_heads_on_held_out_prompts(ioi):
    model, task, heldout = ioi
    # On this random model calibrating L0H1 raises the logit difference a little, L0H0 lowers it.
    with pytest.raises(ValueError, match="nothing to apply"):
        act_study(model, task, heldout, candidates=[(0, 0)], progress=False)
    result = act_study(model, task, heldout, n_heads=1, n_random=1, progress=False)
    assert list(result.df["condition"]) == ["none", "act", "random 0"]
    assert result.heads == [(0, 1)]
    assert list(result.df["heads"]) == ["", "L0H1", "L0H0"]
    with torch.no_grad():
        plain = heldout.accuracy(model.run(heldout.clean_tokens)).mean()
    assert result.df["accuracy"].iloc[0] == pytest.approx(float(plain), abs=TOL)
    again = act_study(model, task, heldout, n_heads=1, n_random=1, selection=result.selection, progress=False)
    torch.testing.assert_close(
        torch.tensor(again.df["logit_diff"].to_numpy()), torch.tensor(result.df["logit_diff"].to_numpy())
    )
    assert result.gain == pytest.approx(result.df["accuracy"].iloc[1] - result.df["accuracy"].iloc[0])


def test_bad_input_is_rejected_by_name(ioi):
    model, task, _ = ioi
    with pytest.raises(ValueError, match="beta"):
        calibrate_pattern(random_pattern(1, 1, 3, 3), [0], beta=1.5)
    with pytest.raises(ValueError, match="queries"):
        sink_scores(torch.ones(1, 1, 4, 3))
    with pytest.raises(ValueError, match="head"):
        act_hooks(model, [(0, 9)])
    with pytest.raises(ValueError, match="candidate"):
        select_act_heads(model, task, candidates=[], progress=False)
    induction_like = dataclasses.replace(ioi_task(model, n_prompts=4, names=NAMES, seed=2), name="induction")
    with pytest.raises(ValueError, match="selection must be"):
        act_study(model, task, task, selection=task.metadata, progress=False)
    with pytest.raises(ValueError, match="one task"):
        act_study(model, task, induction_like, progress=False)
