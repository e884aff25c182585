"""Induction-family scores: equal to TransformerLens's head detector; Olsson's scores behave."""

import pytest
import torch
from transformer_lens import head_detector

from circuits.heads.induction import (
    PATTERN_KINDS,
    copying_scores,
    detection_pattern,
    find_induction_heads,
    pattern_scores,
    prefix_matching_scores,
    repeated_random_tokens,
)
from interp.testing import tiny_model

FP32_NOISE_TOL = 1e-5

TL_NAMES = {
    "previous_token": "previous_token_head",
    "duplicate_token": "duplicate_token_head",
    "induction": "induction_head",
}


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def model(request):
    return tiny_model(request.param)


def prompts(seed=0, n=3, span=6):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, 64, (n, span), generator=g).repeat(1, 2)
    return [" ".join(f"t{i}" for i in row.tolist()) for row in ids]


@pytest.mark.parametrize("kind", PATTERN_KINDS)
@pytest.mark.parametrize("exclude", [(False, False), (True, False), (False, True)])
def test_mul_scores_equal_transformer_lens_head_detector(model, kind, exclude):
    texts = prompts()
    exclude_bos, exclude_current = exclude
    expected = head_detector.detect_head(
        model.bridge,
        texts,
        TL_NAMES[kind],
        exclude_bos=exclude_bos,
        exclude_current_token=exclude_current,
        error_measure="mul",
    )
    tokens = model.to_tokens(texts)
    got = pattern_scores(
        model, tokens, [kind], exclude_bos=exclude_bos, exclude_current_token=exclude_current
    )[kind]
    assert (got - expected).abs().max().item() <= FP32_NOISE_TOL


def test_detection_patterns_mark_the_right_keys():
    tokens = torch.tensor([[1, 7, 8, 7, 8]])
    assert detection_pattern(tokens, "previous_token")[0, 3].tolist() == [0, 0, 1, 0, 0]
    assert detection_pattern(tokens, "duplicate_token")[0, 3].tolist() == [0, 1, 0, 0, 0]
    assert detection_pattern(tokens, "induction")[0, 3].tolist() == [0, 0, 1, 0, 0]
    assert detection_pattern(tokens, "induction")[0, 4].tolist() == [0, 0, 0, 1, 0]


def uniform_patterns(n_layers, n_heads, n):
    """Causal uniform attention for every head."""
    patterns = torch.ones(1, n_layers, n_heads, n, n).tril()
    patterns = patterns / patterns.sum(-1, keepdim=True)
    return patterns


def test_prefix_matching_is_one_for_a_perfect_induction_pattern(model):
    tokens = repeated_random_tokens(model, n_prompts=1, span=6)
    patterns = uniform_patterns(model.n_layers, model.n_heads, tokens.shape[1])
    target = detection_pattern(tokens, "induction")[0]
    perfect = target.clone()
    no_match = perfect.sum(-1) == 0
    perfect[no_match, 0] = 1  # rows without a prefix match attend to BOS
    patterns[0, 1, 2] = perfect
    scores = prefix_matching_scores(model, tokens, patterns)
    assert scores[1, 2].item() == pytest.approx(1.0)
    assert scores[0, 0].item() < 0.3


def test_copying_score_is_one_for_a_copying_ov_and_minus_one_for_a_negated_one(model):
    from dataclasses import replace

    w = model.weights
    ids = torch.arange(10, 18)  # as many sample tokens as d_head
    x = w.W_E[ids]
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + w.norm_eps) * w.ln1_w[1]
    W_V, W_O = w.W_V.clone(), w.W_O.clone()
    W_V[1, 0] = torch.linalg.pinv(x)  # x @ W_V = I
    W_O[1, 0] = torch.linalg.pinv(w.W_U[:, ids])  # W_O @ W_U[:, ids] = I
    W_V[1, 1] = -W_V[1, 0]
    W_O[1, 1] = W_O[1, 0]
    scores = copying_scores(model, ids, weights=replace(w, W_V=W_V, W_O=W_O))
    assert scores[1, 0].item() == pytest.approx(1.0, abs=1e-4)
    assert scores[1, 1].item() == pytest.approx(-1.0, abs=1e-4)
    assert scores[0].abs().max() <= 1.0


def test_find_induction_heads_returns_all_kinds_with_evidence(model):
    scores = find_induction_heads(model)
    assert set(scores.kinds) == set(PATTERN_KINDS)
    induction = scores.of("induction").df
    assert {"tl_mul", "copying", "k_composition"} <= set(induction.columns)
    assert len(induction) == model.n_layers * model.n_heads


def test_too_long_span_is_rejected(model):
    with pytest.raises(ValueError, match="expected <= n_ctx=32"):
        repeated_random_tokens(model, span=20, repeats=2)
