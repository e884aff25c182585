"""Llama, shared by Mistral and Qwen2: separate projections, RMSNorm, RoPE, gated MLP, GQA."""

from typing import Any

from interp.weights.adapters.base import ModelFacts, WeightAdapter, rope_parameters


def _facts(config: Any) -> ModelFacts:
    rope = rope_parameters(config)
    if rope["rope_type"] not in ("default", "llama3", "linear", "dynamic"):
        raise ValueError(
            f"Llama rope_type {rope['rope_type']!r} is not supported; expected "
            "'default', 'linear', 'dynamic' or 'llama3'"
        )
    if getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True):
        if config.sliding_window < config.max_position_embeddings:
            raise ValueError(
                f"sliding_window={config.sliding_window} is not supported; "
                "the canonical forward uses full causal attention"
            )
    d_head = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return ModelFacts(
        n_heads=config.num_attention_heads,
        n_kv_heads=getattr(config, "num_key_value_heads", None) or config.num_attention_heads,
        d_head=d_head,
        norm_eps=config.rms_norm_eps,
        act_fn=config.hidden_act,
        rotary_dim=d_head,
        rotary_base=float(rope.get("rope_theta", 10000.0)),
        parallel_attn_mlp=False,
        n_ctx=config.max_position_embeddings,
    )


ADAPTER = WeightAdapter(
    model_types=("llama", "mistral", "qwen2"),
    layers="model.layers",
    embed="model.embed_tokens",
    pos_embed=None,
    ln_final="model.norm",
    unembed="lm_head",
    ln1="input_layernorm",
    ln2="post_attention_layernorm",
    qkv_layout="separate",
    q="self_attn.q_proj",
    k="self_attn.k_proj",
    v="self_attn.v_proj",
    attn_out="self_attn.o_proj",
    mlp_in="mlp.up_proj",
    mlp_gate="mlp.gate_proj",
    mlp_out="mlp.down_proj",
    linear_kind="linear",
    norm="rmsnorm",
    facts=_facts,
)
