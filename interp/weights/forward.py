"""A plain forward pass computed from :class:`ModelWeights` alone.

This is the obviously correct twin of every fast path: one function per
sublayer, named by data flow, with no caching and no cleverness. Tests check
it against Hugging Face's own forward for each architecture.

Example:
    >>> import torch
    >>> from transformers import GPT2Config, GPT2LMHeadModel
    >>> from interp.weights.canonical import ModelWeights
    >>> hf = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=11)).eval()
    >>> tokens = torch.tensor([[1, 2, 3]])
    >>> logits = forward(ModelWeights.from_hf(hf), tokens)
    >>> bool(torch.allclose(logits, hf(tokens).logits, atol=1e-5))
    True
"""

import math
from typing import Literal

import einops
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from interp.weights.canonical import ModelWeights, Rotary


def normalize(
    x: Float[Tensor, "... d_model"],
    weight: Float[Tensor, " d_model"],
    bias: Float[Tensor, " d_model"] | None,
    eps: float,
) -> Float[Tensor, "... d_model"]:
    """LayerNorm when ``bias`` is given, RMSNorm when it is None (computed in float32)."""
    dtype = x.dtype
    x = x.float()
    if bias is not None:
        x = x - x.mean(-1, keepdim=True)
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    x = x.to(dtype) * weight
    return x + bias if bias is not None else x


def activation(x: Tensor, act_fn: str) -> Tensor:
    """The MLP nonlinearity named by ``act_fn``."""
    if act_fn == "gelu_new":
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))
    if act_fn == "gelu":
        return F.gelu(x)
    if act_fn == "relu":
        return F.relu(x)
    if act_fn == "silu":
        return F.silu(x)
    raise ValueError(f"unknown activation {act_fn!r}; expected gelu_new, gelu, relu or silu")


def rotate(
    x: Float[Tensor, "batch pos head d_head"], positions: Int[Tensor, " pos"], rotary: Rotary
) -> Float[Tensor, "batch pos head d_head"]:
    """Apply rotary embeddings to the first ``rotary.dim`` features (rotate-halves convention)."""
    freqs = positions.float()[:, None] * rotary.inv_freq.to(x.device)[None, :]
    angles = torch.cat([freqs, freqs], dim=-1)
    cos = (angles.cos() * rotary.scaling).to(x.dtype)[None, :, None, :]
    sin = (angles.sin() * rotary.scaling).to(x.dtype)[None, :, None, :]
    x_rot, x_pass = x[..., : rotary.dim], x[..., rotary.dim :]
    half = rotary.dim // 2
    rotated_half = torch.cat([-x_rot[..., half:], x_rot[..., :half]], dim=-1)
    return torch.cat([x_rot * cos + rotated_half * sin, x_pass], dim=-1)


def attention(
    w: ModelWeights, layer: int, x: Float[Tensor, "batch pos d_model"]
) -> Float[Tensor, "batch pos d_model"]:
    """One attention sublayer on the normalised residual ``x``, all heads."""
    q = einops.einsum(x, w.W_Q[layer], "batch pos d_model, head d_model d_head -> batch pos head d_head")
    k = einops.einsum(x, w.W_K[layer], "batch pos d_model, head d_model d_head -> batch pos head d_head")
    v = einops.einsum(x, w.W_V[layer], "batch pos d_model, head d_model d_head -> batch pos head d_head")
    q, k, v = q + w.b_Q[layer], k + w.b_K[layer], v + w.b_V[layer]
    if w.rotary is not None:
        positions = torch.arange(x.shape[1], device=x.device)
        q, k = rotate(q, positions, w.rotary), rotate(k, positions, w.rotary)
    scores = einops.einsum(q, k, "batch q_pos head d_head, batch k_pos head d_head -> batch head q_pos k_pos")
    scores = scores * w.attn_scale
    n = x.shape[1]
    causal = torch.ones(n, n, dtype=torch.bool, device=x.device).tril()
    scores = scores.masked_fill(~causal, float("-inf"))
    pattern = scores.float().softmax(-1).to(x.dtype)
    z = einops.einsum(
        pattern, v, "batch head q_pos k_pos, batch k_pos head d_head -> batch q_pos head d_head"
    )
    out = einops.einsum(z, w.W_O[layer], "batch pos head d_head, head d_head d_model -> batch pos d_model")
    return out + w.b_O[layer]


def mlp(
    w: ModelWeights, layer: int, x: Float[Tensor, "batch pos d_model"]
) -> Float[Tensor, "batch pos d_model"]:
    """One MLP sublayer on the normalised residual ``x`` (gated when ``W_gate`` is set)."""
    pre = x @ w.W_in[layer] + w.b_in[layer]
    if w.W_gate is not None:
        hidden = activation(x @ w.W_gate[layer], w.act_fn) * pre
    else:
        hidden = activation(pre, w.act_fn)
    return hidden @ w.W_out[layer] + w.b_out[layer]


def forward(w: ModelWeights, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos d_vocab"]:
    """Logits for ``tokens``, computed from the canonical weights only."""
    resid = w.W_E[tokens]
    if w.W_pos is not None:
        resid = resid + w.W_pos[: tokens.shape[1]]
    for layer in range(w.n_layers):
        attn_in = normalize(
            resid, w.ln1_w[layer], w.ln1_b[layer] if w.ln1_b is not None else None, w.norm_eps
        )
        attn_out = attention(w, layer, attn_in)
        mlp_src = resid if w.parallel_attn_mlp else resid + attn_out
        mlp_in = normalize(
            mlp_src, w.ln2_w[layer], w.ln2_b[layer] if w.ln2_b is not None else None, w.norm_eps
        )
        resid = resid + attn_out + mlp(w, layer, mlp_in)
    final = normalize(resid, w.ln_final_w, w.ln_final_b, w.norm_eps)
    return final @ w.W_U + w.b_U


EffectiveEmbedding = Literal["mlp0", "raw", "resid"]
"""``mlp0``: MLP0's output on the raw embeddings (Gould et al.). ``raw``: the embeddings themselves.
``resid`` (the default): their sum, the residual stream after block 0 for a lone token (attention
and position aside), which is what a later head reads; in small models trained from scratch the
embedding itself can carry the increment."""


def effective_embeddings(
    w: ModelWeights, token_ids: Int[Tensor, " n"], embedding: EffectiveEmbedding = "resid"
) -> Float[Tensor, "n d_model"]:
    """The representation a head reads for each token (see :data:`EffectiveEmbedding`)."""
    x = w.W_E[token_ids]
    if embedding == "raw":
        return x
    if embedding not in ("mlp0", "resid"):
        raise ValueError(f"unknown effective embedding {embedding!r}; expected 'mlp0', 'raw' or 'resid'")
    ln2_b = w.ln2_b[0] if w.ln2_b is not None else None
    out = mlp(w, 0, normalize(x[None], w.ln2_w[0], ln2_b, w.norm_eps))[0]
    return out if embedding == "mlp0" else x + out
