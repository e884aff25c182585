"""The logit lens: its last layer is the model, and it equals TransformerLens's recomputed-norm stack."""

import pytest
import torch

from circuits.logit_lens import lens_logits, logit_lens

FP32_NOISE_TOL = 1e-5
"""Two float32 routes to the same number."""


@pytest.fixture(scope="module")
def model(arch_model):
    return arch_model


def test_logit_lens_final_layer_is_the_model_and_matches_transformer_lens(model, tokens):
    lens = lens_logits(model, tokens, position=-1)
    with torch.no_grad():
        logits = model.run(tokens)
        _, cache = model.run_with_cache(tokens)
    assert lens.shape == (model.n_layers + 1, tokens.shape[0], model.d_vocab)
    assert torch.allclose(lens[-1], logits[:, -1], atol=FP32_NOISE_TOL)
    accumulated = cache.accumulated_resid(layer=None, pos_slice=-1)
    normed = cache.apply_ln_to_stack(accumulated, layer=-1, pos_slice=-1, recompute_ln=True)
    w = model.weights
    assert torch.allclose(lens, normed @ w.W_U + w.b_U, atol=FP32_NOISE_TOL)
    table = logit_lens(model, tokens, answer=5, wrong=6)
    final = table.df[table.df["layer"] == model.n_layers]
    assert final["kl_to_final"].abs().max() < 1e-6
    diff = (logits[:, -1, 5] - logits[:, -1, 6]).tolist()
    assert final["logit_diff"].tolist() == pytest.approx(diff, abs=FP32_NOISE_TOL)
    assert table.plot().data and table.to_json().startswith("{")
