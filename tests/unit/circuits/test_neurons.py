"""Neuron decoding through the unembedding, and neuron-level direct logit attribution."""

import pytest
import torch

from circuits.logit_attribution import direct_logit_attribution
from circuits.neurons import decode_neurons, neuron_attribution, neuron_logit_weights
from interp.testing import tiny_model

FP32_NOISE_TOL = 1e-5
"""Two float32 routes to the same number."""


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def model(request):
    return tiny_model(request.param)


def test_raw_decoding_is_w_out_times_w_u(model):
    w = model.weights
    assert torch.allclose(neuron_logit_weights(model, 1, fold_norm=False), w.W_out[1] @ w.W_U)


def test_folded_decoding_is_each_neurons_direct_effect_per_unit_activation(model):
    """DLA of neuron n on a logit = activation * decoded[n, token] / final-norm scale."""
    tokens = torch.randint(4, 64, (2, 7))
    with torch.no_grad():
        _, cache = model.run_with_cache(
            tokens, names_filter=["ln_final.hook_scale", "blocks.1.mlp.hook_post"]
        )
    scale = cache["ln_final.hook_scale"][:, -1, 0]
    post = cache["blocks.1.mlp.hook_post"][:, -1]
    decoded = neuron_logit_weights(model, 1)
    result = neuron_attribution(model, tokens, answer=9)
    layer1 = result.df[result.df["layer"] == 1].sort_values(["prompt", "neuron"])
    expected = (post * decoded[:, 9] / scale[:, None]).reshape(-1)
    assert torch.allclose(torch.tensor(layer1["score"].tolist()), expected, atol=FP32_NOISE_TOL)
    assert torch.allclose(torch.tensor(layer1["activation"].tolist()), post.reshape(-1), atol=FP32_NOISE_TOL)


def test_neurons_plus_output_bias_make_the_mlp(model):
    tokens = torch.randint(4, 64, (3, 6))
    neurons = neuron_attribution(model, tokens, answer=5, wrong=6)
    by_layer = direct_logit_attribution(model, tokens, 5, 6, granularity="layer")
    with_bias = direct_logit_attribution(model, tokens, 5, 6, granularity="neuron")
    for layer in range(model.n_layers):
        summed = neurons.df[neurons.df["layer"] == layer].groupby("prompt")["score"].sum()
        bias = with_bias.values[with_bias.labels.index(f"L{layer}.mlp_bias")]
        mlp = by_layer.values[by_layer.labels.index(f"L{layer}.mlp")]
        assert torch.allclose(
            torch.tensor(summed.tolist(), dtype=torch.float64) + bias, mlp, atol=FP32_NOISE_TOL
        )
    summary = neurons.summary()
    assert summary["score"].abs().is_monotonic_decreasing and neurons.plot().data
    assert neurons.target == "logit(t5) - logit(t6)"


def test_decode_neurons_lists_the_top_and_bottom_tokens(model):
    decoded = decode_neurons(model, layers=[0, 1], neurons=[3, 7], k=4)
    assert len(decoded.df) == 2 * 2 * 2 * 4
    scores = neuron_logit_weights(model, 1)[7]
    top_ids = scores.topk(4).indices.tolist()
    assert decoded.tokens(1, 7) == [f"t{i}" if i >= 4 else model.tokenizer.decode([i]) for i in top_ids]
    bottom = decoded.df[
        (decoded.df["neuron"] == 7) & (decoded.df["layer"] == 1) & (decoded.df["direction"] == "bottom")
    ]
    assert bottom["token_id"].tolist() == scores.topk(4, largest=False).indices.tolist()
    assert decoded.plot().data and decoded.to_json().startswith("{")


def test_bad_inputs_are_rejected_with_clear_errors():
    model = tiny_model("gpt2")
    with pytest.raises(ValueError, match="layer 2 is out of range; expected 0 <= layer < 2"):
        decode_neurons(model, layers=[2])
    with pytest.raises(ValueError, match="out of range; expected integers 0 <= n < d_mlp=128"):
        decode_neurons(model, neurons=[128])
    with pytest.raises(ValueError, match="k=0 must be an integer"):
        decode_neurons(model, k=0)
    with pytest.raises(ValueError, match="answer token id 99 is out of the vocabulary"):
        neuron_attribution(model, torch.randint(4, 64, (1, 5)), answer=99)
