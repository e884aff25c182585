"""Arithmetic heads: attention to operands and counterfactual patching, checked by hand."""

import pytest
import torch
from jaxtyping import TypeCheckError

from circuits.heads.arithmetic import (
    attention_to_positions,
    find_arithmetic_heads,
    head_patching_effects,
    logit_difference,
    patching_effects,
)
from interp.testing import tiny_model


@pytest.fixture(scope="module")
def model():
    return tiny_model("gpt2")


@pytest.fixture
def prompts():
    clean = torch.randint(4, 64, (3, 7))
    counter = clean.clone()
    counter[:, 2] = torch.randint(4, 64, (3,))  # a counterfactual operand
    return clean, counter, torch.tensor([10, 11, 12]), torch.tensor([20, 21, 22])


def test_attention_to_positions_equals_the_cached_pattern(model, prompts):
    clean = prompts[0]
    positions = torch.tensor([[1, 2], [2, 3], [1, 4]])
    _, cache = model.run_with_cache(clean, names_filter=["blocks.1.attn.hook_pattern"])
    pattern = cache["blocks.1.attn.hook_pattern"]  # [batch head q k]
    expected = torch.stack([pattern[b, 2, -1, positions[b]].sum() for b in range(3)]).mean()
    got = attention_to_positions(model, clean, positions)[1, 2]
    assert got.item() == pytest.approx(expected.item(), abs=1e-6)


@pytest.mark.parametrize("metric", ["prob", "logit_diff"])
def test_patching_effect_of_one_head_equals_a_manual_patch(model, prompts, metric):
    clean, counter, answers, wrong = prompts
    effects = head_patching_effects(model, clean, counter, answers, wrong, metric=metric)
    _, cache = model.run_with_cache(counter, names_filter=["blocks.0.attn.hook_z"])

    def patch(z, hook):
        z = z.clone()
        z[:, :, 3] = cache["blocks.0.attn.hook_z"][:, :, 3]
        return z

    def measure(logits):
        if metric == "prob":
            return logits[:, -1].softmax(-1)[torch.arange(3), answers]
        return logit_difference(logits, answers, wrong)

    with torch.no_grad():
        m_clean = measure(model.run(clean)).mean()
        m_counter = measure(model.run(counter)).mean()
        patched = measure(model.run_with_hooks(clean, fwd_hooks=[("blocks.0.attn.hook_z", patch)]))
    expected = (m_clean - patched.mean()) / (m_clean - m_counter)
    assert effects[0, 3].item() == pytest.approx(expected.item(), rel=1e-4, abs=1e-5)


def test_a_head_that_writes_nothing_has_no_effect(model, prompts):
    clean, counter, answers, wrong = prompts
    hf = model.hf_model
    original = hf.transformer.h[1].attn.c_proj.weight.data.clone()
    hf.transformer.h[1].attn.c_proj.weight.data[8:16] = 0  # rows of head 1 in [head*d_head, d_model]
    try:
        effects = head_patching_effects(model, clean, counter, answers, wrong)
    finally:
        hf.transformer.h[1].attn.c_proj.weight.data.copy_(original)
    assert abs(effects[1, 1].item()) < 1e-5


def test_find_arithmetic_heads_reports_both_numbers(model, prompts):
    clean, counter, answers, wrong = prompts
    scores = find_arithmetic_heads(model, clean, counter, answers, wrong, torch.tensor([[1, 2]] * 3))
    df = scores.df
    assert (df["score"] == df["patching"]).all() and df["attention"].between(0, 1).all()


def test_an_arithmetic_head_must_matter_and_look_at_the_operands(model, prompts):
    clean, counter, answers, wrong = prompts
    ops = torch.tensor([[1, 2]] * 3)
    loose = find_arithmetic_heads(
        model, clean, counter, answers, wrong, ops, threshold=0.0, attention_min=0.0
    )
    df = loose.df
    assert df["is_head"].equals(df["patching"] > 0.0)
    cut = float(df["attention"].median())
    strict = find_arithmetic_heads(
        model, clean, counter, answers, wrong, ops, threshold=0.0, attention_min=cut
    )
    expected = (df["patching"] > 0.0) & (df["attention"] >= cut)
    assert strict.df["is_head"].equals(expected) and 0 < expected.sum() < len(df)


def test_identical_counterfactuals_are_refused(model, prompts):
    clean, _, answers, wrong = prompts
    with pytest.raises(ValueError, match="counterfactual operands do not change"):
        head_patching_effects(model, clean, clean, answers, wrong)


def test_an_unknown_metric_is_named(model, prompts):
    clean, counter, answers, wrong = prompts
    for fn in (head_patching_effects, patching_effects):
        with pytest.raises((ValueError, TypeCheckError), match="metric"):
            fn(model, clean, counter, answers, wrong, metric="kl")


def test_bad_positions_are_named(model, prompts):
    with pytest.raises(ValueError, match="out of range; expected 0 <= pos < 7"):
        attention_to_positions(model, prompts[0], torch.tensor([[1, 9]] * 3))


@pytest.mark.parametrize("metric", ["prob", "logit_diff"])
@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_batched_engine_effects_equal_the_hook_loop(arch, metric, prompts):
    model = tiny_model(arch)
    clean, counter, _, _ = prompts
    positions = torch.tensor([6, 4, 5])  # each prompt read at its own position
    rows = torch.arange(3)
    with torch.no_grad():  # the model's own top tokens: probabilities well above 1 / vocabulary
        answers = model.run(clean)[rows, positions].argmax(-1)
        wrong = model.run(clean)[rows, positions].argmin(-1)
    slow = head_patching_effects(model, clean, counter, answers, wrong, positions, metric)
    fast = patching_effects(model, clean, counter, answers, wrong, positions, metric)
    # both are shares of the clean-vs-counterfactual gap, small on a random model: compare in the
    # metric's own units
    with torch.no_grad():
        logits = model.run(clean), model.run(counter)
    if metric == "prob":
        probs = [lg[rows, positions].softmax(-1)[rows, answers].mean() for lg in logits]
        gap = probs[0] - probs[1]
    else:
        lds = [logit_difference(lg, answers, wrong, positions).mean() for lg in logits]
        gap = lds[0] - lds[1]
    assert ((fast - slow) * gap).abs().max() < 1e-5


@pytest.fixture
def grouped(model):
    """Six prompts in two groups; answer and wrong token read off the clean logits, so the model
    solves every prompt (positive logit difference)."""
    g = torch.Generator().manual_seed(1)
    clean = torch.randint(4, 64, (6, 7), generator=g)
    counter = clean.clone()
    counter[:, 2] = torch.randint(4, 64, (6,), generator=g)
    with torch.no_grad():
        last = model.run(clean)[:, -1]
    return clean, counter, last.argmax(-1), last.argmin(-1), ["digit0"] * 3 + ["digit1"] * 3


def test_grouped_score_is_the_largest_effect_within_a_group(model, grouped):
    clean, counter, answers, wrong, groups = grouped
    ops = torch.tensor([[1, 2]] * 6)
    df = find_arithmetic_heads(
        model, clean, counter, answers, wrong, ops, groups=groups, metric="logit_diff"
    ).df

    def grid(column):
        return torch.tensor(df[column].to_numpy(), dtype=torch.float32).view(2, 4)

    per_group = [
        patching_effects(model, clean[rows], counter[rows], answers[rows], wrong[rows], metric="logit_diff")
        for rows in (slice(0, 3), slice(3, 6))
    ]
    best = torch.stack(per_group).max(0)
    assert torch.allclose(grid("score"), best.values, atol=1e-5)
    assert df["group"].tolist() == [f"digit{i}" for i in best.indices.flatten().tolist()]
    for label, effects in zip(("digit0", "digit1"), per_group, strict=True):
        assert torch.allclose(grid(f"patching_{label}"), effects, atol=1e-5)
    pooled = patching_effects(model, clean, counter, answers, wrong, metric="logit_diff")
    assert torch.allclose(grid("patching"), pooled, atol=1e-5)


def test_a_group_the_model_gets_wrong_is_left_out(model, grouped):
    clean, counter, answers, wrong, groups = grouped
    flipped_answers = torch.cat([answers[:3], wrong[3:]])  # group digit1 now prefers the wrong token
    flipped_wrong = torch.cat([wrong[:3], answers[3:]])
    ops = torch.tensor([[1, 2]] * 6)
    df = find_arithmetic_heads(
        model, clean, counter, flipped_answers, flipped_wrong, ops, groups=groups, metric="logit_diff"
    ).df
    assert "patching_digit1" not in df and set(df["group"]) == {"digit0"}
    with pytest.raises(ValueError, match="prefers the counterfactual answer in every group"):
        find_arithmetic_heads(model, clean, counter, wrong, answers, ops, groups=groups, metric="logit_diff")


def test_groups_of_the_wrong_length_are_refused(model, grouped):
    clean, counter, answers, wrong, _ = grouped
    with pytest.raises(ValueError, match="groups has 2 labels; expected one per prompt \\(6\\)"):
        find_arithmetic_heads(
            model, clean, counter, answers, wrong, torch.tensor([[1, 2]] * 6), groups=["a", "b"]
        )
