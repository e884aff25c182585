"""HookedModel: logits equal Hugging Face, instrumentation changes nothing, bad input is named."""

import pytest
import torch

from interp import load_model
from interp.testing import save_tiny_checkpoint, tiny_model
from interp.weights import forward

FP32_NOISE_TOL = 1e-5
"""Same arithmetic in float32, possibly in another order."""

ARCHS = ["gpt2", "neox", "llama"]


@pytest.fixture(scope="module", params=ARCHS)
def model(request):
    return tiny_model(request.param)


def hf_eager_logits(model, tokens):
    """Hugging Face's own eager forward, on a fresh copy of the checkpoint."""
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(model.spec, attn_implementation="eager").eval()
    with torch.no_grad():
        return hf(tokens).logits


def test_logits_equal_hugging_face_eager(model):
    tokens = torch.randint(4, model.d_vocab, (2, 12))
    with torch.no_grad():
        got = model.run(tokens)
    assert (got - hf_eager_logits(model, tokens)).abs().max().item() <= FP32_NOISE_TOL


def test_plain_forward_from_weights_equals_model(model):
    tokens = torch.randint(4, model.d_vocab, (2, 12))
    with torch.no_grad():
        assert (forward(model.weights, tokens) - model.run(tokens)).abs().max().item() <= 1e-4


def test_hooks_and_caching_leave_logits_unchanged(model):
    tokens = torch.randint(4, model.d_vocab, (2, 12))
    with torch.no_grad():
        plain = model.run(tokens)
        cached, cache = model.run_with_cache(tokens)
        seen = []
        hooked = model.run_with_hooks(
            tokens, fwd_hooks=[("blocks.1.attn.hook_pattern", lambda act, hook: seen.append(act.shape))]
        )
    assert torch.equal(plain, cached) and torch.equal(plain, hooked)
    assert seen == [(2, model.n_heads, 12, 12)]
    assert len(cache) > 10


def test_cache_holds_transformer_lens_names_with_per_head_shapes(model):
    tokens = torch.randint(4, model.d_vocab, (1, 6))
    model.set_use_attn_result(True)
    try:
        _, cache = model.run_with_cache(tokens, names_filter=lambda n: n.startswith("blocks.0.attn.hook_"))
    finally:
        model.set_use_attn_result(False)
    assert cache["blocks.0.attn.hook_z"].shape == (1, 6, model.n_heads, model.d_head)
    assert cache["blocks.0.attn.hook_result"].shape == (1, 6, model.n_heads, model.d_model)
    assert all(name.startswith("blocks.0.attn.") for name in cache.keys())


def test_per_head_results_sum_to_attention_output(model):
    tokens = torch.randint(4, model.d_vocab, (1, 6))
    model.set_use_attn_result(True)
    try:
        _, cache = model.run_with_cache(tokens)
    finally:
        model.set_use_attn_result(False)
    heads = cache["blocks.1.attn.hook_result"].sum(2) + model.weights.b_O[1]
    assert (heads - cache["blocks.1.hook_attn_out"]).abs().max().item() <= FP32_NOISE_TOL


def test_names_filter_by_list_and_unknown_name(model):
    tokens = torch.randint(4, model.d_vocab, (1, 5))
    _, cache = model.run_with_cache(tokens, names_filter=["blocks.0.hook_resid_pre"])
    assert "blocks.0.hook_resid_pre" in cache.keys()
    # the bridge also caches the same tensor under its native alias
    assert set(cache.keys()) <= {"blocks.0.hook_resid_pre", "blocks.0.hook_in"}
    with pytest.raises(ValueError, match="unknown hook name.*blocks.9.hook_nothing"):
        model.run_with_cache(tokens, names_filter=["blocks.9.hook_nothing"])


def test_nnsight_view_reads_the_same_weights(model, tmp_path):
    tokens = torch.randint(4, model.d_vocab, (2, 7))
    script = tmp_path / "trace.py"  # nnsight traces must live in a file
    script.write_text(
        "def logits(nn_model, tokens):\n"
        "    with nn_model.trace(tokens):\n"
        "        out = nn_model.output.logits.save()\n"
        "    return out\n"
    )
    namespace: dict = {}
    exec(compile(script.read_text(), str(script), "exec"), namespace)
    with torch.no_grad():
        got = namespace["logits"](model.nnsight, tokens)
        assert (got - model.run(tokens)).abs().max().item() <= FP32_NOISE_TOL


def test_tokens_round_trip(model):
    tokens = model.to_tokens("t5 t6 t7")
    assert tokens.shape[0] == 1 and tokens[0, -3:].tolist() == [5, 6, 7]
    assert model.to_str_tokens("t5 t6 t7")[-3:] == ["t5", "t6", "t7"]
    assert model.to_single_token("t9") == 9


def test_not_a_single_token_is_named(model):
    with pytest.raises(ValueError, match="'t9 t10' is not a single token"):
        model.to_single_token("t9 t10")


def test_token_out_of_vocabulary_is_named(model):
    with pytest.raises(ValueError, match="token id 64 is out of the vocabulary; expected 0 <= id < 64"):
        model.run(torch.tensor([[1, 2, 64]]))


def test_prompt_longer_than_context_is_named(model):
    with pytest.raises(ValueError, match="prompt of 33 tokens is longer than the context.*n_ctx=32"):
        model.run(torch.ones(1, 33, dtype=torch.long))


def test_float_tokens_are_rejected(model):
    with pytest.raises(ValueError, match="token ids must be integers"):
        model.run(torch.ones(1, 3))


def test_head_index_out_of_range_is_named(model):
    assert model.check_head(1, 3) == (1, 3)
    with pytest.raises(ValueError, match="head 4 is out of range; expected 0 <= head < 4"):
        model.check_head(0, 4)
    with pytest.raises(ValueError, match="layer 2 is out of range; expected 0 <= layer < 2"):
        model.check_head(2, 0)


def test_shape_attributes(model):
    s = model.summary()
    assert (model.n_layers, model.n_heads, model.d_head, model.d_model) == (2, 4, 8, 32)
    assert s.n_heads_total == 8 and s.n_params > 0 and s.dtype == "float32"
    assert model.n_kv_heads == (2 if s.architecture == "llama" else 4)


def test_to_dtype_moves_bridge_weights_and_nnsight_together(tmp_path):
    model = load_model(save_tiny_checkpoint("llama", tmp_path), device="cpu")
    tokens = torch.randint(4, 64, (1, 5))
    model.to(dtype=torch.float64)
    assert model.weights.W_Q.dtype == torch.float64
    with torch.no_grad():
        got = model.run(tokens)
        assert got.dtype == torch.float64
        assert (forward(model.weights, tokens) - got).abs().max().item() <= 1e-10


def test_second_bridge_on_the_same_object_is_refused():
    model = tiny_model("gpt2")
    with pytest.raises(ValueError, match="already has a HookedModel"):
        load_model(model.hf_model, tokenizer=model.tokenizer, device="cpu")
