"""The declarative weight adapter: where each canonical weight lives in a Hugging Face model.

One :class:`WeightAdapter` per architecture names module paths (relative to
the model, or to one decoder layer) and a few layout facts; :meth:`read`
turns them into :class:`~interp.weights.canonical.ModelWeights`. Nothing
architecture-specific lives outside the adapter files.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import einops
import torch
from torch import Tensor

from interp.weights.canonical import ActFn, ModelWeights, NormKind, Rotary

QKVLayout = Literal["fused_columns", "fused_per_head", "separate"]
"""How the query, key and value projections are stored.

- ``fused_columns``: one matrix whose output features are ``[q | k | v]``,
  each head-contiguous (GPT-2 ``c_attn``).
- ``fused_per_head``: one matrix whose output features are grouped per head as
  ``[head, (q k v), d_head]`` (GPT-NeoX ``query_key_value``).
- ``separate``: three modules named by ``q``, ``k`` and ``v`` (Llama).
"""

LinearKind = Literal["linear", "conv1d"]
"""``linear``: ``nn.Linear`` stores ``[out, in]``. ``conv1d``: GPT-2's ``Conv1D`` stores ``[in, out]``."""


@dataclass(frozen=True, kw_only=True)
class ModelFacts:
    """Settings read from a Hugging Face config that the weights alone do not tell.

    Attributes:
        n_heads: Query heads per layer.
        n_kv_heads: Key/value heads per layer.
        d_head: Width of one head.
        norm_eps: Epsilon of every norm.
        act_fn: The MLP nonlinearity.
        rotary_dim: Rotated dimensions per head, or None without rotary.
        rotary_base: The rotary frequency base.
        parallel_attn_mlp: Whether attention and MLP read the same residual.
        n_ctx: Maximum context length.
    """

    n_heads: int
    n_kv_heads: int
    d_head: int
    norm_eps: float
    act_fn: ActFn
    rotary_dim: int | None
    rotary_base: float
    parallel_attn_mlp: bool
    n_ctx: int


@dataclass(frozen=True, kw_only=True)
class WeightAdapter:
    """Where one architecture keeps its weights.

    Attributes:
        model_types: Hugging Face ``config.model_type`` values this adapter reads.
        layers: Path of the list of decoder layers.
        embed: Path of the token embedding module.
        pos_embed: Path of the learned position embedding module, or None.
        ln_final: Path of the final norm.
        unembed: Path of the output projection.
        ln1, ln2: Per-layer paths of the pre-attention and pre-MLP norms.
        qkv_layout: How q, k and v are stored.
        qkv: Per-layer path of the fused projection (fused layouts).
        q, k, v: Per-layer paths of the separate projections (``separate`` layout).
        attn_out: Per-layer path of the attention output projection.
        mlp_in, mlp_gate, mlp_out: Per-layer paths of the MLP projections.
        linear_kind: Storage convention of every projection.
        norm: The normalisation kind.
        facts: Reads the :class:`ModelFacts` from a config.
    """

    model_types: tuple[str, ...]
    layers: str
    embed: str
    pos_embed: str | None
    ln_final: str
    unembed: str
    ln1: str
    ln2: str
    qkv_layout: QKVLayout
    qkv: str | None = None
    q: str | None = None
    k: str | None = None
    v: str | None = None
    attn_out: str
    mlp_in: str
    mlp_gate: str | None
    mlp_out: str
    linear_kind: LinearKind
    norm: NormKind
    facts: Callable[[Any], ModelFacts]

    def read(self, hf_model: torch.nn.Module) -> ModelWeights:
        """Read ``hf_model``'s weights into canonical form (detached copies)."""
        facts = self.facts(hf_model.config)
        layers = list(_get(hf_model, self.layers))
        per_layer = [self._read_layer(layer, facts) for layer in layers]
        stacked = {k: _stack([p[k] for p in per_layer]) for k in per_layer[0]}
        ln_final = _get(hf_model, self.ln_final)
        unembed = _get(hf_model, self.unembed)
        d_vocab = unembed.weight.shape[0]
        rotary = None
        if facts.rotary_dim is not None:
            rotary = _rotary_from(hf_model, facts)
        with torch.no_grad():
            return ModelWeights(
                architecture=hf_model.config.model_type,
                W_E=_get(hf_model, self.embed).weight.detach().clone(),
                W_pos=(_get(hf_model, self.pos_embed).weight.detach().clone() if self.pos_embed else None),
                **stacked,
                ln_final_w=ln_final.weight.detach().clone(),
                ln_final_b=_bias_or_none(ln_final),
                norm=self.norm,
                norm_eps=facts.norm_eps,
                act_fn=facts.act_fn,
                W_U=unembed.weight.detach().T.clone(),
                b_U=_bias(unembed, d_vocab, unembed.weight),
                rotary=rotary,
                n_kv_heads=facts.n_kv_heads,
                attn_scale=facts.d_head**-0.5,
                parallel_attn_mlp=facts.parallel_attn_mlp,
                n_ctx=facts.n_ctx,
            )

    def _matrix(self, module: torch.nn.Module) -> Tensor:
        """The module's weight as ``[in, out]``."""
        w = module.weight.detach()
        return w.clone() if self.linear_kind == "conv1d" else w.T.clone()

    def _read_layer(self, layer: torch.nn.Module, facts: ModelFacts) -> dict[str, Tensor | None]:
        n_heads, n_kv, d_head = facts.n_heads, facts.n_kv_heads, facts.d_head
        q_w, k_w, v_w, q_b, k_b, v_b = self._read_qkv(layer, facts)
        group = n_heads // n_kv

        def heads(w: Tensor, n: int) -> Tensor:
            w = einops.rearrange(w, "d_model (head d_head) -> head d_model d_head", head=n)
            return w.repeat_interleave(group, dim=0) if n != n_heads else w

        def head_bias(b: Tensor, n: int) -> Tensor:
            b = einops.rearrange(b, "(head d_head) -> head d_head", head=n)
            return b.repeat_interleave(group, dim=0) if n != n_heads else b

        out = _get(layer, self.attn_out)
        w_o = self._matrix(out)
        d_model = w_o.shape[1]
        ln1, ln2 = _get(layer, self.ln1), _get(layer, self.ln2)
        mlp_in, mlp_out = _get(layer, self.mlp_in), _get(layer, self.mlp_out)
        w_in = self._matrix(mlp_in)
        return {
            "W_Q": heads(q_w, n_heads),
            "W_K": heads(k_w, n_kv),
            "W_V": heads(v_w, n_kv),
            "W_O": einops.rearrange(
                w_o, "(head d_head) d_model -> head d_head d_model", head=n_heads, d_head=d_head
            ),
            "b_Q": head_bias(q_b, n_heads),
            "b_K": head_bias(k_b, n_kv),
            "b_V": head_bias(v_b, n_kv),
            "b_O": _bias(out, d_model, w_o),
            "ln1_w": ln1.weight.detach().clone(),
            "ln1_b": _bias_or_none(ln1),
            "ln2_w": ln2.weight.detach().clone(),
            "ln2_b": _bias_or_none(ln2),
            "W_in": w_in,
            "W_gate": self._matrix(_get(layer, self.mlp_gate)) if self.mlp_gate else None,
            "b_in": _bias(mlp_in, w_in.shape[1], w_in),
            "W_out": self._matrix(mlp_out),
            "b_out": _bias(mlp_out, d_model, w_in),
        }

    def _read_qkv(self, layer: torch.nn.Module, facts: ModelFacts) -> tuple[Tensor, ...]:
        d_q = facts.n_heads * facts.d_head
        d_kv = facts.n_kv_heads * facts.d_head
        if self.qkv_layout == "separate":
            mods = [_get(layer, p) for p in (self.q, self.k, self.v)]
            ws = [self._matrix(m) for m in mods]
            bs = [_bias(m, w.shape[1], w) for m, w in zip(mods, ws, strict=True)]
            return (*ws, *bs)
        fused = _get(layer, self.qkv)
        w = self._matrix(fused)
        b = _bias(fused, w.shape[1], w)
        if self.qkv_layout == "fused_columns":
            ws = w.split([d_q, d_kv, d_kv], dim=1)
            bs = b.split([d_q, d_kv, d_kv], dim=0)
            return (*ws, *bs)
        # fused_per_head: output features are [head, 3, d_head]
        w = einops.rearrange(
            w, "d_model (head three d_head) -> three d_model (head d_head)", three=3, d_head=facts.d_head
        )
        b = einops.rearrange(b, "(head three d_head) -> three (head d_head)", three=3, d_head=facts.d_head)
        return (w[0], w[1], w[2], b[0], b[1], b[2])


def _get(root: torch.nn.Module, path: str) -> Any:
    """Follow a dotted path; ``a|b`` tries ``a`` first, then ``b`` (renamed modules)."""
    *alternatives, last = path.split("|")
    for alternative in alternatives:
        try:
            return _get(root, alternative)
        except AttributeError:
            pass
    obj = root
    for part in last.split("."):
        obj = getattr(obj, part)
    return obj


def _stack(values: list[Tensor | None]) -> Tensor | None:
    return None if values[0] is None else torch.stack(values)


def _bias_or_none(module: torch.nn.Module) -> Tensor | None:
    bias = getattr(module, "bias", None)
    return None if bias is None else bias.detach().clone()


def _bias(module: torch.nn.Module, size: int, like: Tensor) -> Tensor:
    bias = getattr(module, "bias", None)
    if bias is None:
        return torch.zeros(size, dtype=like.dtype, device=like.device)
    return bias.detach().clone()


def _rotary_from(hf_model: torch.nn.Module, facts: ModelFacts) -> Rotary:
    """Take the inverse frequencies the model really uses, from its rotary module when it has one."""
    inv_freq, scaling = None, 1.0
    for module in hf_model.modules():
        if type(module).__name__.endswith("RotaryEmbedding") and hasattr(module, "inv_freq"):
            inv_freq = module.inv_freq.detach().clone().float()
            scaling = float(getattr(module, "attention_scaling", 1.0))
            break
    if inv_freq is None:
        exponents = torch.arange(0, facts.rotary_dim, 2, dtype=torch.float32) / facts.rotary_dim
        inv_freq = 1.0 / facts.rotary_base**exponents
    return Rotary(dim=facts.rotary_dim, base=facts.rotary_base, inv_freq=inv_freq, scaling=scaling)


def rope_parameters(config: Any) -> dict[str, Any]:
    """The rotary settings of a config, across transformers versions."""
    params = dict(getattr(config, "rope_parameters", None) or {})
    if "rope_theta" not in params and hasattr(config, "rope_theta"):
        params["rope_theta"] = config.rope_theta
    scaling = getattr(config, "rope_scaling", None)
    if scaling:
        params.setdefault("rope_type", scaling.get("rope_type", scaling.get("type")))
    params.setdefault("rope_type", "default")
    return params
