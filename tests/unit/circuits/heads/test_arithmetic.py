"""Arithmetic heads: attention to operands and counterfactual patching, checked by hand."""

import pytest
import torch

from circuits.heads.arithmetic import (
    attention_to_positions,
    find_arithmetic_heads,
    head_patching_effects,
    logit_difference,
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


def test_patching_effect_of_one_head_equals_a_manual_patch(model, prompts):
    clean, counter, answers, wrong = prompts
    effects = head_patching_effects(model, clean, counter, answers, wrong)
    _, cache = model.run_with_cache(counter, names_filter=["blocks.0.attn.hook_z"])

    def patch(z, hook):
        z = z.clone()
        z[:, :, 3] = cache["blocks.0.attn.hook_z"][:, :, 3]
        return z

    with torch.no_grad():
        ld_clean = logit_difference(model.run(clean), answers, wrong).mean()
        ld_counter = logit_difference(model.run(counter), answers, wrong).mean()
        patched = logit_difference(
            model.run_with_hooks(clean, fwd_hooks=[("blocks.0.attn.hook_z", patch)]), answers, wrong
        )
    expected = (ld_clean - patched.mean()) / (ld_clean - ld_counter)
    assert effects[0, 3].item() == pytest.approx(expected.item(), abs=1e-5)


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


def test_bad_positions_are_named(model, prompts):
    with pytest.raises(ValueError, match="out of range; expected 0 <= pos < 7"):
        attention_to_positions(model, prompts[0], torch.tensor([[1, 9]] * 3))


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_batched_engine_effects_equal_the_hook_loop(arch, prompts):
    from circuits.heads.arithmetic import patching_effects

    model = tiny_model(arch)
    clean, counter, answers, wrong = prompts
    positions = torch.tensor([6, 4, 5])  # each prompt read at its own position
    slow = head_patching_effects(model, clean, counter, answers, wrong, positions)
    fast = patching_effects(model, clean, counter, answers, wrong, positions)
    # normalised by a small logit-difference gap on a random model: compare relative to size
    assert torch.allclose(fast, slow, rtol=1e-4, atol=1e-4)
