"""Head ablation: each mode equals a weight edit or a fixed point, controls are random heads."""

from dataclasses import replace

import pytest
import torch

from circuits.ablation import ablation_hooks, ablation_study, evaluate, random_head_sets
from interp.testing import tiny_model
from interp.weights import forward

FP32_NOISE_TOL = 1e-5


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def model(request):
    return tiny_model(request.param)


@pytest.fixture
def tokens():
    return torch.randint(4, 64, (3, 9))


def last_logit(logits):
    return logits[:, -1, 7]


def run_hooked(model, tokens, hooks):
    with torch.no_grad():
        return model.run_with_hooks(tokens, fwd_hooks=hooks)


def test_zero_ablation_equals_zeroing_the_heads_output_weights(model, tokens):
    w = model.weights
    W_O = w.W_O.clone()
    W_O[1, 0] = 0
    W_O[0, 3] = 0
    with torch.no_grad():
        expected = forward(replace(w, W_O=W_O), tokens)
    got = run_hooked(model, tokens, ablation_hooks(model, [(1, 0), (0, 3)], "zero", tokens))
    assert (got - expected).abs().max().item() <= 1e-4


def test_masking_equals_a_head_with_zero_queries(model, tokens):
    w = model.weights
    W_Q, b_Q = w.W_Q.clone(), w.b_Q.clone()
    W_Q[1, 2] = 0
    b_Q[1, 2] = 0
    with torch.no_grad():
        expected = forward(replace(w, W_Q=W_Q, b_Q=b_Q), tokens)
    got = run_hooked(model, tokens, ablation_hooks(model, [(1, 2)], "masking", tokens))
    assert (got - expected).abs().max().item() <= 1e-4


def test_mean_and_resample_over_identical_prompts_change_nothing(model):
    same = torch.randint(4, 64, (1, 9)).repeat(4, 1)
    with torch.no_grad():
        plain = model.run(same)
    for mode in ("mean", "resample"):
        got = run_hooked(model, same, ablation_hooks(model, [(0, 1), (1, 3)], mode, same))
        assert (got - plain).abs().max().item() <= FP32_NOISE_TOL


def test_mean_ablation_changes_outputs_on_varied_prompts(model, tokens):
    with torch.no_grad():
        plain = model.run(tokens)
    layer0 = [(0, head) for head in range(model.n_heads)]
    got = run_hooked(model, tokens, ablation_hooks(model, layer0, "mean", tokens))
    assert (got - plain).abs().max().item() > 1e-3


def test_study_reports_baseline_ablation_and_random_control(model, tokens):
    result = ablation_study(model, [(1, 0)], tokens, last_logit, mode="zero", n_random=3, seed=1)
    row = result.df.iloc[0]
    assert row["heads"] == "L1H0" and row["n_random"] == 3
    assert row["baseline"] == pytest.approx(evaluate(model, tokens, last_logit).mean().item())
    assert row["effect"] == pytest.approx(row["ablated"] - row["baseline"])
    assert len(result.random_values["L1H0"]) == 3
    assert result.plot().data and '"heads": "L1H0"' in result.to_json()


def test_random_sets_avoid_the_ablated_heads_and_have_its_size(model):
    sets = random_head_sets(model, 2, [(0, 0), (1, 1)], n_sets=10, seed=0)
    assert all(len(s) == 2 and (0, 0) not in s and (1, 1) not in s for s in sets)
    assert len({tuple(s) for s in sets}) > 1


def test_a_set_too_large_for_a_control_is_ablated_without_one(model, tokens):
    every = [(layer, head) for layer in range(model.n_layers) for head in range(model.n_heads)]
    row = ablation_study(model, every[:-1], tokens, last_logit, n_random=0).df.iloc[0]
    assert row["n_random"] == 0 and row["ablated"] == pytest.approx(
        evaluate(model, tokens, last_logit, ablation_hooks(model, every[:-1], "mean", tokens)).mean().item()
    )
    with pytest.raises(ValueError, match="cannot draw 7 random heads from the 1 heads outside the set"):
        ablation_study(model, every[:-1], tokens, last_logit, n_random=2)


def test_bad_inputs_are_named(model, tokens):
    with pytest.raises(ValueError, match="head 9 is out of range"):
        ablation_study(model, [(0, 9)], tokens, last_logit)
    with pytest.raises((ValueError, TypeError), match="erase"):  # a runtime type checker may see it first
        ablation_hooks(model, [(0, 1)], "erase", tokens)
    with pytest.raises(ValueError, match=r"one value per prompt, shape \(3,\); got \(\)"):
        ablation_study(model, [(0, 1)], tokens, lambda logits: logits.sum())
    with pytest.raises(
        ValueError, match="resample ablation needs reference prompts of the prompts' length 9"
    ):
        ablation_hooks(model, [(0, 1)], "resample", tokens, torch.randint(4, 64, (2, 5)))


def test_the_plot_labels_every_bar_and_spans_the_random_draws(model, tokens):
    def accuracy(logits):
        return (logits[:, -1].argmax(-1) == tokens[:, -1]).float()

    result = ablation_study(model, [(1, 0)], tokens, accuracy, mode="zero", n_random=4, seed=1)
    fig = result.plot()
    draws = result.random_values["L1H0"]
    control = fig.data[2]
    mean = control.y[0]
    assert mean + control.error_y.array[0] == pytest.approx(max(draws))
    assert mean - control.error_y.arrayminus[0] == pytest.approx(min(draws))
    assert all(bar.texttemplate == "%{y:.2f}" for bar in fig.data)
    assert fig.layout.yaxis.title.text == "accuracy" and tuple(fig.layout.yaxis.range) == (0, 1.12)
    alone = ablation_study(model, [(1, 0)], tokens, accuracy, mode="zero", n_random=0).plot()
    assert [bar.name for bar in alone.data] == ["baseline", "ablated"]  # no control drawn without draws
