"""GPT-NeoX (Pythia): fused per-head ``query_key_value``, partial rotary, parallel residual."""

from typing import Any

from interp.weights.adapters.base import ModelFacts, WeightAdapter, rope_parameters


def _facts(config: Any) -> ModelFacts:
    rope = rope_parameters(config)
    if rope["rope_type"] != "default":
        raise ValueError(f"GPT-NeoX rope_type {rope['rope_type']!r} is not supported; expected 'default'")
    d_head = config.hidden_size // config.num_attention_heads
    pct = rope.get("partial_rotary_factor", getattr(config, "rotary_pct", 1.0))
    return ModelFacts(
        n_heads=config.num_attention_heads,
        n_kv_heads=config.num_attention_heads,
        d_head=d_head,
        norm_eps=config.layer_norm_eps,
        act_fn=config.hidden_act,
        rotary_dim=int(d_head * pct),
        rotary_base=float(rope["rope_theta"]),
        parallel_attn_mlp=bool(config.use_parallel_residual),
        n_ctx=config.max_position_embeddings,
    )


ADAPTER = WeightAdapter(
    model_types=("gpt_neox",),
    layers="gpt_neox.layers",
    embed="gpt_neox.embed_in",
    pos_embed=None,
    ln_final="gpt_neox.final_layer_norm",
    unembed="lm_head|embed_out",
    ln1="input_layernorm",
    ln2="post_attention_layernorm",
    qkv_layout="fused_per_head",
    qkv="attention.query_key_value",
    attn_out="attention.dense",
    mlp_in="mlp.dense_h_to_4h",
    mlp_gate=None,
    mlp_out="mlp.dense_4h_to_h",
    linear_kind="linear",
    norm="layernorm",
    facts=_facts,
)
