"""GPT-2: fused ``c_attn`` in ``Conv1D`` layout, LayerNorm, learned positions."""

from typing import Any

from interp.weights.adapters.base import ModelFacts, WeightAdapter


def _facts(config: Any) -> ModelFacts:
    unsupported = {
        "scale_attn_by_inverse_layer_idx": getattr(config, "scale_attn_by_inverse_layer_idx", False),
        "reorder_and_upcast_attn": getattr(config, "reorder_and_upcast_attn", False),
        "add_cross_attention": getattr(config, "add_cross_attention", False),
        "scale_attn_weights=False": not getattr(config, "scale_attn_weights", True),
    }
    bad = [name for name, on in unsupported.items() if on]
    if bad:
        raise ValueError(f"GPT-2 config uses {bad}, which the canonical weights do not support")
    return ModelFacts(
        n_heads=config.n_head,
        n_kv_heads=config.n_head,
        d_head=config.n_embd // config.n_head,
        norm_eps=config.layer_norm_epsilon,
        act_fn=config.activation_function,
        rotary_dim=None,
        rotary_base=0.0,
        parallel_attn_mlp=False,
        n_ctx=config.n_positions,
    )


ADAPTER = WeightAdapter(
    model_types=("gpt2",),
    layers="transformer.h",
    embed="transformer.wte",
    pos_embed="transformer.wpe",
    ln_final="transformer.ln_f",
    unembed="lm_head",
    ln1="ln_1",
    ln2="ln_2",
    qkv_layout="fused_columns",
    qkv="attn.c_attn",
    attn_out="attn.c_proj",
    mlp_in="mlp.c_fc",
    mlp_gate=None,
    mlp_out="mlp.c_proj",
    linear_kind="conv1d",
    norm="layernorm",
    facts=_facts,
)
