"""Canonical weights: layouts per architecture, and the plain forward equals Hugging Face."""

import pytest
import torch

from interp.testing import tiny_hf_model
from interp.weights import ModelWeights, forward
from interp.weights.adapters import ADAPTERS, adapter_for

FP32_FORWARD_TOL = 1e-4
"""The plain forward re-associates sums differently from Hugging Face: float32 noise."""

ARCHS = ["gpt2", "neox", "llama"]


@pytest.mark.parametrize("arch", ARCHS)
def test_plain_forward_from_weights_equals_hugging_face(arch):
    hf = tiny_hf_model(arch)
    tokens = torch.randint(0, hf.config.vocab_size, (3, 17))
    with torch.no_grad():
        expected = hf(tokens).logits
        got = forward(ModelWeights.from_hf(hf), tokens)
    assert (got - expected).abs().max().item() <= FP32_FORWARD_TOL


@pytest.mark.parametrize("arch", ARCHS)
def test_shapes_follow_the_canonical_layout(arch):
    hf = tiny_hf_model(arch)
    w = ModelWeights.from_hf(hf)
    n_layers, n_heads, d_model, d_head = 2, 4, 32, 8
    assert w.W_Q.shape == w.W_K.shape == w.W_V.shape == (n_layers, n_heads, d_model, d_head)
    assert w.W_O.shape == (n_layers, n_heads, d_head, d_model)
    assert w.b_Q.shape == (n_layers, n_heads, d_head)
    assert w.W_E.shape == (64, d_model) and w.W_U.shape == (d_model, 64)
    assert w.W_OV.shape == (n_layers, n_heads, d_model, d_model)


def test_gpt2_splits_fused_qkv_per_head():
    hf = tiny_hf_model("gpt2")
    w = ModelWeights.from_hf(hf)
    c_attn = hf.transformer.h[1].attn.c_attn.weight  # [d_model, 3 * d_model], columns [q | k | v]
    # head 2's key columns are d_model + 2*d_head .. d_model + 3*d_head
    assert torch.equal(w.W_K[1, 2], c_attn[:, 32 + 16 : 32 + 24])
    assert w.W_pos is not None and w.rotary is None and w.norm == "layernorm"


def test_neox_reads_interleaved_per_head_qkv_and_partial_rotary():
    hf = tiny_hf_model("neox")
    w = ModelWeights.from_hf(hf)
    qkv = hf.gpt_neox.layers[0].attention.query_key_value.weight  # rows [head, (q k v), d_head]
    assert torch.equal(w.W_V[0, 3], qkv[3 * 24 + 16 : 3 * 24 + 24].T)
    assert w.rotary is not None and w.rotary.dim == 4  # rotary_pct 0.5 of d_head 8
    assert w.parallel_attn_mlp and w.W_pos is None


def test_llama_expands_grouped_query_attention_per_head():
    hf = tiny_hf_model("llama")
    w = ModelWeights.from_hf(hf)
    assert w.n_kv_heads == 2 and w.kv_group == 2 and w.n_heads == 4
    # query heads 0, 1 share key head 0; heads 2, 3 share key head 1
    assert torch.equal(w.W_K[0, 0], w.W_K[0, 1]) and torch.equal(w.W_V[1, 2], w.W_V[1, 3])
    assert not torch.equal(w.W_K[0, 1], w.W_K[0, 2])
    k_proj = hf.model.layers[0].self_attn.k_proj.weight  # [n_kv * d_head, d_model]
    assert torch.equal(w.W_K[0, 3], k_proj[8:16].T)
    assert w.W_gate is not None and w.norm == "rmsnorm" and w.ln1_b is None


def test_weights_are_copies_detached_from_the_model():
    hf = tiny_hf_model("gpt2")
    w = ModelWeights.from_hf(hf)
    with torch.no_grad():
        hf.transformer.h[0].attn.c_attn.weight.zero_()
    assert w.W_Q[0].abs().sum() > 0 and not w.W_Q.requires_grad


def test_to_changes_dtype_of_every_tensor():
    w = ModelWeights.from_hf(tiny_hf_model("llama")).to(dtype=torch.float64)
    assert w.W_Q.dtype == torch.float64 and w.ln_final_w.dtype == torch.float64


def test_registry_covers_the_promised_architectures():
    assert {"gpt2", "gpt_neox", "llama", "mistral", "qwen2"} <= set(ADAPTERS)


def test_unknown_architecture_is_rejected_by_name():
    class Config:
        model_type = "bert"

    with pytest.raises(ValueError, match="no weight adapter for model_type 'bert'"):
        adapter_for(Config())


def test_unsupported_gpt2_option_is_rejected():
    from transformers import GPT2Config, GPT2LMHeadModel

    hf = GPT2LMHeadModel(
        GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=11, scale_attn_by_inverse_layer_idx=True)
    )
    with pytest.raises(ValueError, match="scale_attn_by_inverse_layer_idx"):
        ModelWeights.from_hf(hf)
