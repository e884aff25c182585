"""SmolLM2-135M loaded from its GGUF file: the same model transformers reads, every view of it exact."""

import json

import pytest
import torch

from interp.engine import Engine, Metric
from interp.gguf import cache_dir, file_digest, packaged_gguf
from interp.weights import forward

pytestmark = pytest.mark.real

FP32_TOL = 1e-5
"""Two float32 computations of the same function in the same order of operations."""
REL_TOL = 1e-4
"""The canonical weights' forward against the bridge: same maths, different contraction order."""

PROMPTS = ["The capital of Germany is", "Monday, Tuesday, Wednesday,"]


def _tokens(model):
    return model.to_tokens(PROMPTS[0])


def test_it_is_the_model_the_issue_describes(smollm2):
    assert (smollm2.n_layers, smollm2.n_heads, smollm2.n_kv_heads) == (30, 9, 3)
    assert (smollm2.d_model, smollm2.d_head, smollm2.d_vocab) == (576, 64, 49152)
    assert smollm2.spec == "smollm2-135m"


def test_it_continues_prompts_like_a_pretrained_model(smollm2):
    tokens = _tokens(smollm2)
    with torch.no_grad():
        top = smollm2.run(tokens)[0, -1].argmax()
    assert smollm2.tokenizer.decode([int(top)]) == " Berlin"


def test_logits_equal_transformers_own_gguf_load(smollm2):
    from transformers import AutoModelForCausalLM

    path = packaged_gguf("smollm2-135m")
    reference = AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=torch.float32
    )
    tokens = _tokens(smollm2)
    with torch.no_grad():
        expected = reference(tokens).logits
        ours = smollm2.run(tokens)
    assert (ours - expected).abs().max().item() <= FP32_TOL * expected.abs().max().item()


def test_canonical_forward_and_engine_reproduce_the_logits(smollm2):
    tokens = smollm2.to_tokens(PROMPTS)
    with torch.no_grad():
        expected = smollm2.run(tokens)
        by_weights = forward(smollm2.weights, tokens)
        engine = Engine(smollm2.weights)
        every_position = Metric(fn=lambda logits: logits.sum((1, 2)), positions=torch.arange(tokens.shape[1]))
        by_engine = engine.metric_logits(engine.trace(tokens), every_position)
    scale = expected.abs().max().item()
    assert (by_weights - expected).abs().max().item() <= REL_TOL * scale
    assert (by_engine - expected).abs().max().item() <= REL_TOL * scale


def test_query_head_h_reads_kv_head_h_over_3(smollm2):
    w, attn = smollm2.weights, smollm2.hf_model.model.layers[7].self_attn
    d_head = smollm2.d_head
    for head in range(smollm2.n_heads):
        kv = head // 3
        k_rows = attn.k_proj.weight[kv * d_head : (kv + 1) * d_head].T
        v_rows = attn.v_proj.weight[kv * d_head : (kv + 1) * d_head].T
        assert (w.W_K[7, head] - k_rows).abs().max().item() <= FP32_TOL
        assert (w.W_V[7, head] - v_rows).abs().max().item() <= FP32_TOL
    assert (w.W_K[7, 0] - w.W_K[7, 3]).abs().max().item() > FP32_TOL  # heads 0 and 3 read different KV heads


def test_bridge_gives_per_head_results_that_sum_to_the_attention_output(smollm2):
    tokens = _tokens(smollm2)
    smollm2.set_use_attn_result(True)
    try:
        with torch.no_grad():
            _, cache = smollm2.run_with_cache(
                tokens,
                names_filter=lambda name: name in ("blocks.3.attn.hook_result", "blocks.3.hook_attn_out"),
            )
    finally:
        smollm2.set_use_attn_result(False)
    per_head = cache["blocks.3.attn.hook_result"]
    assert per_head.shape == (1, tokens.shape[1], 9, 576)
    total = cache["blocks.3.hook_attn_out"]
    assert (per_head.sum(2) - total).abs().max().item() <= REL_TOL * total.abs().max().item()


def test_the_dequantized_checkpoint_is_cached_by_content_hash(smollm2):
    path = packaged_gguf("smollm2-135m")
    digest = file_digest(path)
    folder = cache_dir() / "gguf" / digest[:16]
    record = json.loads((folder / "gguf-source.json").read_text())
    assert record == {"file": path.name, "sha256": digest, "model_type": "llama"}
    assert (folder / "model.safetensors").stat().st_size > 500e6
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
