"""The canonical per-head view of a transformer's weights.

Every method of the toolkit reads weights in one layout, whatever the
architecture: attention split per head (``W_Q[layer, head, d_model, d_head]``,
``W_O[layer, head, d_head, d_model]``), grouped-query attention expanded to one
key and value matrix per query head (the grouping is recorded), matrices
oriented so that activations multiply them on the left (``x @ W``), as in
TransformerLens.

The layout of each Hugging Face architecture is described by a small
declarative adapter in :mod:`interp.weights.adapters`.

Example:
    >>> import torch
    >>> from transformers import GPT2Config, GPT2LMHeadModel
    >>> hf = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=11))
    >>> w = ModelWeights.from_hf(hf)
    >>> tuple(w.W_Q.shape), w.n_kv_heads
    ((1, 2, 16, 8), 2)
"""

from dataclasses import dataclass, fields, replace
from typing import Literal

import torch
from jaxtyping import Float
from torch import Tensor

NormKind = Literal["layernorm", "rmsnorm"]
"""``layernorm``: centre, scale by RMS, weight and bias. ``rmsnorm``: scale by RMS and weight."""

ActFn = Literal["gelu_new", "gelu", "relu", "silu"]
"""The MLP's nonlinearity: ``gelu_new`` is GPT-2's tanh approximation."""


@dataclass(frozen=True, kw_only=True)
class Rotary:
    """Rotary position embedding settings (Hugging Face "rotate halves" convention).

    Attributes:
        dim: Number of leading dimensions of each head that are rotated.
        base: The frequency base (``rope_theta``).
        inv_freq: The inverse frequencies actually used, ``[dim // 2]``.
        scaling: Multiplier applied to cos and sin (1.0 unless the model uses
            scaled RoPE).
    """

    dim: int
    base: float
    inv_freq: Float[Tensor, " half_rot"]
    scaling: float = 1.0


@dataclass(frozen=True, kw_only=True)
class ModelWeights:
    """All weights of a decoder-only transformer, in canonical per-head form.

    Attributes:
        architecture: The Hugging Face ``model_type`` the weights came from.
        W_E: Token embedding ``[d_vocab, d_model]``.
        W_pos: Learned position embedding ``[n_ctx, d_model]``, or None.
        W_Q, W_K, W_V: ``[layer, head, d_model, d_head]``. With grouped-query
            attention, K and V are repeated so that query head ``h`` reads key
            head ``h // kv_group``.
        W_O: ``[layer, head, d_head, d_model]``.
        b_Q, b_K, b_V: ``[layer, head, d_head]`` (zeros when absent).
        b_O: ``[layer, d_model]``.
        ln1_w, ln2_w, ln_final_w: Norm weights ``[layer, d_model]`` / ``[d_model]``.
        ln1_b, ln2_b, ln_final_b: Norm biases, or None for RMSNorm.
        norm: Which normalisation the model uses.
        norm_eps: The epsilon inside the norm.
        W_in: MLP input ``[layer, d_model, d_mlp]`` (the "up" projection).
        W_gate: Gate of a gated MLP ``[layer, d_model, d_mlp]``, or None.
        b_in: ``[layer, d_mlp]``. W_out: ``[layer, d_mlp, d_model]``. b_out: ``[layer, d_model]``.
        act_fn: The MLP nonlinearity (applied to the gate in a gated MLP).
        W_U: Unembedding ``[d_model, d_vocab]``. b_U: ``[d_vocab]``.
        rotary: Rotary settings, or None for learned absolute positions.
        n_kv_heads: Number of distinct key/value heads before expansion.
        attn_scale: Factor multiplying ``q . k`` (``d_head ** -0.5`` usually).
        parallel_attn_mlp: True when attention and MLP read the same residual
            (GPT-NeoX ``use_parallel_residual``).
        n_ctx: The longest context the model accepts.
    """

    architecture: str
    W_E: Float[Tensor, "d_vocab d_model"]
    W_pos: Float[Tensor, "n_ctx d_model"] | None
    W_Q: Float[Tensor, "layer head d_model d_head"]
    W_K: Float[Tensor, "layer head d_model d_head"]
    W_V: Float[Tensor, "layer head d_model d_head"]
    W_O: Float[Tensor, "layer head d_head d_model"]
    b_Q: Float[Tensor, "layer head d_head"]
    b_K: Float[Tensor, "layer head d_head"]
    b_V: Float[Tensor, "layer head d_head"]
    b_O: Float[Tensor, "layer d_model"]
    ln1_w: Float[Tensor, "layer d_model"]
    ln1_b: Float[Tensor, "layer d_model"] | None
    ln2_w: Float[Tensor, "layer d_model"]
    ln2_b: Float[Tensor, "layer d_model"] | None
    ln_final_w: Float[Tensor, " d_model"]
    ln_final_b: Float[Tensor, " d_model"] | None
    norm: NormKind
    norm_eps: float
    W_in: Float[Tensor, "layer d_model d_mlp"]
    W_gate: Float[Tensor, "layer d_model d_mlp"] | None
    b_in: Float[Tensor, "layer d_mlp"]
    W_out: Float[Tensor, "layer d_mlp d_model"]
    b_out: Float[Tensor, "layer d_model"]
    act_fn: ActFn
    W_U: Float[Tensor, "d_model d_vocab"]
    b_U: Float[Tensor, " d_vocab"]
    rotary: Rotary | None
    n_kv_heads: int
    attn_scale: float
    parallel_attn_mlp: bool
    n_ctx: int

    @property
    def n_layers(self) -> int:
        return self.W_Q.shape[0]

    @property
    def n_heads(self) -> int:
        return self.W_Q.shape[1]

    @property
    def d_model(self) -> int:
        return self.W_Q.shape[2]

    @property
    def d_head(self) -> int:
        return self.W_Q.shape[3]

    @property
    def d_mlp(self) -> int:
        return self.W_in.shape[2]

    @property
    def d_vocab(self) -> int:
        return self.W_U.shape[1]

    @property
    def kv_group(self) -> int:
        """Query heads per key/value head (1 without grouped-query attention)."""
        return self.n_heads // self.n_kv_heads

    @property
    def W_OV(self) -> Float[Tensor, "layer head d_model d_model"]:
        """Per-head OV circuit ``W_V @ W_O``."""
        return self.W_V @ self.W_O

    @property
    def W_QK(self) -> Float[Tensor, "layer head d_model d_model"]:
        """Per-head QK circuit ``W_Q @ W_K^T`` (ignores rotary positions)."""
        return self.W_Q @ self.W_K.transpose(-1, -2)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        """Return a copy with every tensor moved to ``device`` and cast to ``dtype``."""
        changes = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Tensor):
                changes[f.name] = value.to(device=device, dtype=dtype)
            elif isinstance(value, Rotary):
                changes[f.name] = replace(value, inv_freq=value.inv_freq.to(device=device))
        return replace(self, **changes)

    @classmethod
    def from_hf(cls, hf_model: torch.nn.Module) -> "ModelWeights":
        """Read the canonical weights of a Hugging Face causal language model.

        Args:
            hf_model: A ``*ForCausalLM`` whose ``config.model_type`` has an adapter
                (see :data:`interp.weights.adapters.ADAPTERS`).

        Returns:
            Detached copies of the weights in canonical form.

        Raises:
            ValueError: When the architecture has no adapter, or uses a feature
                the canonical form cannot express.
        """
        from interp.weights.adapters import adapter_for

        return adapter_for(hf_model.config).read(hf_model)
