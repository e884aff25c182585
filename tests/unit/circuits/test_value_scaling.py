"""Competing-answer head attribution is head DLA; value scaling equals weight edits."""

from dataclasses import replace

import pytest
import torch

from circuits.logit_attribution import direct_logit_attribution
from circuits.value_scaling import competing_answer_attribution, value_scaling, value_scaling_hooks
from interp.testing import tiny_model
from interp.weights import forward

FP32_NOISE_TOL = 1e-5
"""Two float32 routes to the same number."""


@pytest.fixture(scope="module")
def model(arch_model):
    return arch_model


def _kinds(dla):
    return dla.df["kind"].iloc[:: dla.total.shape[0]].tolist()


def test_competing_answers_are_head_dla_of_each_answer(model, tokens):
    result = competing_answer_attribution(model, tokens, memorised=7, in_context=[5, 6, 8])
    diff = direct_logit_attribution(model, tokens, [5, 6, 8], 7, granularity="head")
    heads = diff.values[[i for i, k in enumerate(_kinds(diff)) if k == "head"]]
    assert torch.allclose((result.in_context - result.memorised).reshape(heads.shape), heads, atol=1e-8)
    assert list(result.df.columns[:5]) == ["layer", "head", "memorised", "in_context", "difference"]
    assert result.df["difference"].tolist() == pytest.approx(heads.mean(-1).tolist(), abs=1e-8)
    assert result.plot().data


def test_value_scaling_at_zero_and_one_equals_weight_edits(model, tokens):
    result = value_scaling(model, tokens, (1, 2), [0.0, 1, 2.5], answer=5, wrong=6)
    w = model.weights
    with torch.no_grad():
        clean = model.run(tokens)[:, -1]
        W_O = w.W_O.clone()
        W_O[1, 2] = 0
        ablated = forward(replace(w, W_O=W_O), tokens)[:, -1]
    by_alpha = {a: g for a, g in result.df.groupby("alpha")}
    for alpha, logits in ((1.0, clean), (0.0, ablated)):
        got = by_alpha[alpha]["logit_diff"].tolist()
        assert got == pytest.approx((logits[:, 5] - logits[:, 6]).tolist(), abs=FP32_NOISE_TOL)
        prob = logits.double().softmax(-1)[:, 5].tolist()
        assert by_alpha[alpha]["answer_prob"].tolist() == pytest.approx(prob, abs=1e-6)
    assert len(result.summary()) == 3 and result.plot().data


def test_scaling_values_equals_scaling_z_and_grouped_heads_need_z():
    gpt2 = tiny_model("gpt2")
    tokens = torch.randint(4, 64, (2, 7))
    with torch.no_grad():
        via_v = gpt2.run_with_hooks(tokens, fwd_hooks=value_scaling_hooks(gpt2, "L1H3", 1.7, "v"))
        via_z = gpt2.run_with_hooks(tokens, fwd_hooks=value_scaling_hooks(gpt2, "L1H3", 1.7, "z"))
        clean = gpt2.run(tokens)
    assert torch.allclose(via_v, via_z, atol=FP32_NOISE_TOL)
    assert (via_v - clean).abs().max() > 1e-3
    llama = tiny_model("llama")
    with pytest.raises(ValueError, match="shared by 2 query heads"):
        value_scaling_hooks(llama, (0, 1), 2.0, "v")
    assert value_scaling_hooks(llama, (0, 1), 2.0)[0][0] == "blocks.0.attn.hook_z"


def test_bad_inputs_are_rejected_with_clear_errors():
    model = tiny_model("gpt2")
    tokens = torch.randint(4, 64, (2, 6))
    with pytest.raises(ValueError, match="unknown head \\(5, 0\\): layer 5 is out of range"):
        value_scaling(model, tokens, (5, 0), [1.0], answer=5)
    with pytest.raises(ValueError, match="head 7 is out of range"):
        value_scaling(model, tokens, "L1H7", [1.0], answer=5)
    with pytest.raises(TypeError, match="alpha must be a real number; got 'x'"):
        value_scaling(model, tokens, (1, 0), ["x"], answer=5)
    with pytest.raises(TypeError, match="non-empty list of real numbers"):
        value_scaling(model, tokens, (1, 0), "2", answer=5)
