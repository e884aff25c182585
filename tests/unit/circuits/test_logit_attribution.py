"""Direct logit attribution is exact and equals TransformerLens."""

import pytest
import torch

from circuits.logit_attribution import (
    GRANULARITIES,
    direct_logit_attribution,
    parse_head,
)
from interp.testing import tiny_hf_model, tiny_model, word_tokenizer

EXACT_TOL = 1e-4
"""The issue's bound on |sum of components - target|; float64 sums land near 1e-7."""

FP32_NOISE_TOL = 1e-5
"""Two float32 routes to the same number."""


@pytest.fixture(scope="module")
def model(arch_model):
    return arch_model


@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_components_sum_exactly_to_the_logit_difference(model, tokens, granularity):
    dla = direct_logit_attribution(
        model, tokens, answer=[5, 6, 7], wrong=9, position=[-1, 4, 6], granularity=granularity
    )
    assert dla.sum_error < EXACT_TOL
    with torch.no_grad():
        logits = model.run(tokens)
    expected = torch.stack([logits[0, -1, 5] - logits[0, -1, 9], logits[1, 4, 6] - logits[1, 4, 9]])
    assert torch.allclose(dla.total[:2].float(), expected, atol=FP32_NOISE_TOL)
    assert (dla.df.groupby("prompt")["score"].sum() - dla.total.numpy()).abs().max() < EXACT_TOL


def test_single_logit_is_exact_and_includes_the_bias_terms(model, tokens):
    dla = direct_logit_attribution(model, tokens, answer="t8", granularity="head")
    assert dla.sum_error < EXACT_TOL
    assert {"ln_final.b", "b_U"} <= set(dla.labels)
    if model.weights.ln_final_b is None:  # RMSNorm: no norm bias term
        assert dla.values[dla.labels.index("ln_final.b")].abs().max() == 0


def test_granularities_refine_each_other(model, tokens):
    by = {g: direct_logit_attribution(model, tokens, 5, 6, granularity=g) for g in GRANULARITIES}
    layer, head, neuron, source = by["layer"], by["head"], by["neuron"], by["source_position"]
    for lay in range(model.n_layers):
        attn = layer.values[layer.labels.index(f"L{lay}.attn")]
        heads = [head.labels.index(f"L{lay}H{h}") for h in range(model.n_heads)]
        parts = head.values[heads].sum(0) + head.values[head.labels.index(f"L{lay}.attn_bias")]
        assert torch.allclose(parts, attn, atol=FP32_NOISE_TOL)
        mlp = layer.values[layer.labels.index(f"L{lay}.mlp")]
        neurons = [i for i, label in enumerate(neuron.labels) if label.startswith(f"L{lay}N")]
        parts = neuron.values[neurons].sum(0) + neuron.values[neuron.labels.index(f"L{lay}.mlp_bias")]
        assert torch.allclose(parts, mlp, atol=FP32_NOISE_TOL)
        for h in range(model.n_heads):
            srcs = [i for i, label in enumerate(source.labels) if label.startswith(f"L{lay}H{h}<-")]
            assert torch.allclose(
                source.values[srcs].sum(0), head.values[head.labels.index(f"L{lay}H{h}")], atol=FP32_NOISE_TOL
            )


def test_equals_transformer_lens_stacks_through_the_cached_norm(model, tokens):
    """TL's stacks through TL's ``apply_ln_to_stack`` (cached final scale), read along ln_final.w * W_U."""
    model.set_use_attn_result(True)
    try:
        with torch.no_grad():
            _, cache = model.run_with_cache(tokens)
    finally:
        model.set_use_attn_result(False)
    w = model.weights
    direction = w.ln_final_w * (w.W_U[:, 5] - w.W_U[:, 6])
    stacks = {
        "head": (cache.stack_head_results(layer=-1, pos_slice=-1), ["head"]),
        "layer": (cache.decompose_resid(layer=-1, pos_slice=-1), ["embed", "pos_embed", "attn", "mlp"]),
        "neuron": (cache.stack_neuron_results(layer=-1, pos_slice=-1), ["neuron"]),
    }
    for granularity, (stack, kinds) in stacks.items():
        reference = (cache.apply_ln_to_stack(stack, layer=-1, pos_slice=-1) * direction).sum(-1)
        dla = direct_logit_attribution(model, tokens, 5, 6, granularity=granularity)
        ours = dla.values[[i for i, k in enumerate(_kinds(dla)) if k in kinds]]
        assert ours.shape == reference.shape
        assert torch.allclose(ours.float(), reference, atol=FP32_NOISE_TOL)


def _kinds(dla):
    return dla.df["kind"].iloc[:: dla.total.shape[0]].tolist()


@pytest.mark.parametrize("arch", ["gpt2", "llama"])  # LayerNorm and RMSNorm; NeoX is covered above
def test_head_dla_equals_transformer_lens_logit_attrs_on_a_processed_model(arch, tokens, tmp_path):
    """TL's logit_attrs is right only with the norms folded in, so compare with a processed bridge.

    Processing also moves each head's constant write, ``(ln1.b @ W_V + b_V) @ W_O``, into
    ``b_O`` (TL's fold_ln and fold_value_biases); our head scores keep it with the head.
    """
    from transformer_lens.model_bridge import TransformerBridge

    bridge = TransformerBridge.boot_transformers(
        f"ref-{arch}", hf_model=tiny_hf_model(arch), tokenizer=word_tokenizer(folder=tmp_path), device="cpu"
    )
    bridge.enable_compatibility_mode(disable_warnings=True)
    bridge.set_use_attn_result(True)
    answer, wrong = torch.tensor([5, 6, 7]), torch.tensor([9, 10, 11])
    with torch.no_grad():
        _, cache = bridge.run_with_cache(tokens)
        stack = cache.stack_head_results(layer=-1, pos_slice=-1)
        reference = cache.logit_attrs(stack, tokens=answer, incorrect_tokens=wrong, pos_slice=-1)
    model = tiny_model(arch)
    dla = direct_logit_attribution(model, tokens, answer, wrong, granularity="head")
    ours = dla.values[[i for i, k in enumerate(_kinds(dla)) if k == "head"]]
    w = model.weights
    value_bias = w.b_V if w.ln1_b is None else w.b_V + torch.einsum("ld,lhde->lhe", w.ln1_b, w.W_V)
    constant = torch.einsum("lhe,lhed->lhd", value_bias, w.W_O).reshape(-1, w.d_model)
    scaled = cache.apply_ln_to_stack(constant[:, None].expand(-1, 3, -1), layer=-1, pos_slice=-1)
    moved = (scaled * w.ln_final_w * (w.W_U[:, answer] - w.W_U[:, wrong]).T).sum(-1)
    assert torch.allclose(ours.float() - moved, reference, atol=FP32_NOISE_TOL)


def test_bad_inputs_are_rejected_with_clear_errors():
    model = tiny_model("gpt2")
    tokens = torch.randint(4, 64, (2, 6))
    with pytest.raises(ValueError, match="cannot read head 'banana'"):
        parse_head("banana", 2, 4)
    with pytest.raises(
        ValueError, match="answer token id 64 is out of the vocabulary; expected 0 <= id < 64"
    ):
        direct_logit_attribution(model, tokens, answer=64)
    with pytest.raises(ValueError, match="wrong token id -1 is out of the vocabulary"):
        direct_logit_attribution(model, tokens, answer=5, wrong=[3, -1])
    with pytest.raises(ValueError, match="got 3 answer tokens for 2 prompts"):
        direct_logit_attribution(model, tokens, answer=[4, 5, 6])
    with pytest.raises(ValueError, match="position 6 is out of range"):
        direct_logit_attribution(model, tokens, answer=5, position=6)
    with pytest.raises(ValueError, match="not a single token"):
        direct_logit_attribution(model, tokens, answer="t5 t6")


def test_results_export(tokens):
    model = tiny_model("gpt2")
    dla = direct_logit_attribution(model, tokens, 5, 6)
    assert set(dla.df.columns) >= {"component", "kind", "layer", "head", "prompt", "pos", "score"}
    assert len(dla.df) == len(dla.labels) * tokens.shape[0]
    assert dla.top(3)["score"].abs().is_monotonic_decreasing
    assert dla.head_grid().shape == (2, 4)
    assert dla.plot().data and '"granularity": "head"' in dla.to_json()


def test_task_logit_attribution_reads_each_prompts_own_position(model):
    from circuits.logit_attribution import task_logit_attribution
    from circuits.tasks import induction_task

    task = induction_task(model, n_prompts=4, seed=0)
    result = task_logit_attribution(model, task, "layer")
    by_hand = direct_logit_attribution(
        model,
        task.clean_tokens,
        task.answer_tokens,
        task.wrong_tokens,
        position=task.positions,
        granularity="layer",
    )
    assert torch.allclose(
        torch.as_tensor(result.df["score"].to_numpy()), torch.as_tensor(by_hand.df["score"].to_numpy())
    )
    assert torch.allclose(result.total, task.logit_diff(model.run(task.clean_tokens)).double(), atol=1e-4)
