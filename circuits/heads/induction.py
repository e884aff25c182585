"""Induction-family heads: previous-token, duplicate-token and induction heads.

Two families of scores, all heads at once from one cached forward pass:

- TransformerLens-compatible pattern scores (``head_detector.detect_head``
  with ``error_measure="mul"``): for a lower-triangular 0/1 detection pattern
  P, score = sum(A * P) / sum(A), averaged over prompts.
- Olsson et al. (2022), "In-context Learning and Induction Heads":
  prefix-matching (attention from position i to keys j < i whose previous
  token equals token i, averaged over the query positions that have such a
  key), the copying score of the head's OV circuit, and weight-based
  K-composition with previous-token heads.

Example:
    >>> from interp.testing import tiny_model
    >>> model = tiny_model("gpt2")
    >>> tokens = repeated_random_tokens(model, n_prompts=2, span=5, seed=0)
    >>> scores = find_induction_heads(model, tokens)
    >>> sorted(scores.kinds)
    ['duplicate_token', 'induction', 'previous_token']
"""

from collections.abc import Sequence
from typing import Literal

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from circuits.composition_scores import composition_scores
from circuits.heads.scores import HeadScores
from circuits.tasks.tokens import content_ids
from interp import HookedModel, ModelWeights
from interp.engine.patches import hook_name

PatternKind = Literal["previous_token", "duplicate_token", "induction"]
"""``previous_token``: attends to i-1. ``duplicate_token``: attends to earlier copies of token i.
``induction``: attends to the token after an earlier copy of token i."""

PATTERN_KINDS: tuple[PatternKind, ...] = ("previous_token", "duplicate_token", "induction")

DEFAULT_THRESHOLDS: dict[str, float] = {
    "previous_token": 0.4,
    "duplicate_token": 0.4,
    "induction": 0.4,
}
"""A head is of a kind when more than this share of its attention follows the kind's pattern."""


def detection_pattern(tokens: Int[Tensor, "batch pos"], kind: PatternKind) -> Float[Tensor, "batch pos pos"]:
    """The 0/1 lower-triangular pattern a perfect head of ``kind`` would follow (TransformerLens's)."""
    n = tokens.shape[-1]
    if kind == "previous_token":
        return torch.ones(n, n).tril(-1).triu(-1).expand(tokens.shape[0], n, n).clone()
    same = (tokens[:, :, None] == tokens[:, None, :]).float()
    duplicate = (same * (1 - torch.eye(n))).tril()
    if kind == "duplicate_token":
        return duplicate
    if kind == "induction":
        shifted = torch.zeros_like(duplicate)
        shifted[:, :, 1:] = duplicate[:, :, :-1]
        return shifted.tril()
    raise ValueError(f"unknown pattern kind {kind!r}; expected one of {PATTERN_KINDS}")


def attention_patterns(
    model: HookedModel, tokens: Int[Tensor, "batch pos"]
) -> Float[Tensor, "batch layer head pos pos"]:
    """Every head's attention pattern, from one cached forward pass."""
    names = [hook_name(layer, "pattern") for layer in range(model.n_layers)]
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=names)
    return torch.stack([cache[name] for name in names], dim=1).float()


def pattern_scores(
    model: HookedModel,
    tokens: Int[Tensor, "batch pos"],
    kinds: Sequence[PatternKind] = PATTERN_KINDS,
    *,
    exclude_bos: bool = False,
    exclude_current_token: bool = False,
    patterns: Float[Tensor, "batch layer head pos pos"] | None = None,
) -> dict[str, Float[Tensor, "layer head"]]:
    """TransformerLens "mul" detection scores of every head, averaged over prompts.

    Equal to ``transformer_lens.head_detector.detect_head(model, prompts, kind)``
    run on the same prompts (which averages per-prompt scores).
    """
    tokens = model.check_tokens(tokens)
    if tokens.shape[1] < 2:
        raise ValueError(f"pattern scores need prompts of at least 2 tokens, got {tokens.shape[1]}")
    if patterns is None:
        patterns = attention_patterns(model, tokens)
    attn = patterns.clone()
    if exclude_bos:
        attn[..., 0] = 0
    if exclude_current_token:
        attn = attn * (1 - torch.eye(attn.shape[-1]))
    total = attn.sum((-1, -2))
    result = {}
    for kind in kinds:
        target = detection_pattern(tokens.cpu(), kind)[:, None, None]
        result[kind] = ((attn * target).sum((-1, -2)) / total).mean(0)
    return result


def prefix_matching_scores(
    model: HookedModel,
    tokens: Int[Tensor, "batch pos"],
    patterns: Float[Tensor, "batch layer head pos pos"] | None = None,
) -> Float[Tensor, "layer head"]:
    """Olsson et al.'s prefix-matching score of every head.

    For each query position i that has an earlier key j < i with
    ``tok[j-1] == tok[i]``, the attention i pays to all such keys; averaged over
    those positions and over prompts.
    """
    tokens = model.check_tokens(tokens)
    if patterns is None:
        patterns = attention_patterns(model, tokens)
    target: Bool[Tensor, "batch pos pos"] = detection_pattern(tokens.cpu(), "induction").bool()
    has_match = target.any(-1)  # [batch, q]
    if not has_match.any():
        raise ValueError("no query position has an earlier prefix match; use prompts with repeated tokens")
    mass = (patterns * target[:, None, None]).sum(-1)  # [batch layer head q]
    weights = has_match[:, None, None].float()
    return (mass * weights).sum((0, -1)) / weights.sum((0, -1))


def copying_scores(
    model: HookedModel,
    token_ids: Int[Tensor, " n_tokens"] | None = None,
    *,
    weights: ModelWeights | None = None,
) -> Float[Tensor, "layer head"]:
    """Olsson et al.'s copying score of every head's OV circuit, in [-1, 1].

    For each sample token t: Δ = W_U · (g ⊙ OV(x_t)), restricted to the sample tokens,
    where x_t is t's embedding normalised like the head's input (norm weights
    applied, biases ignored) and g the final norm's weight, as TransformerLens folds it
    into W_U; ℓ = ReLU(Δ − mean Δ); r = ℓ[t] / Σ ℓ. The mean of r
    over t is mapped linearly from [0, 0.5] to [−1, 1] (clipped), so a head
    that raises only the attended token scores 1 and a random head about −1.

    Args:
        token_ids: The sample tokens (default: 64 token ids from the middle of
            the vocabulary, avoiding the most and least frequent ones).
        weights: Score these weights instead of the model's (e.g. edited ones).
    """
    w = weights if weights is not None else model.weights
    if token_ids is None:
        start = min(w.d_vocab // 4, max(w.d_vocab - 64, 0))
        token_ids = torch.arange(start, min(start + 64, w.d_vocab))
    token_ids = torch.as_tensor(token_ids, device=w.W_E.device)
    x = w.W_E[token_ids]  # [n, d_model]
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + w.norm_eps)
    x = x[None] * w.ln1_w[:, None, :]  # [layer, n, d_model]
    ov_out = torch.einsum("lnd,lhde->lhne", x, w.W_OV)  # [layer head n d_model]
    delta = (ov_out * w.ln_final_w) @ w.W_U[:, token_ids]  # [layer head n n]
    ell = torch.relu(delta - delta.mean(-1, keepdim=True))
    diag = torch.diagonal(ell, dim1=-2, dim2=-1)
    ratio = diag / ell.sum(-1).clamp_min(1e-12)
    return (4 * ratio.mean(-1) - 1).clamp(-1, 1)


def k_composition_with(model: HookedModel, senders: Sequence[tuple[int, int]]) -> Float[Tensor, "layer head"]:
    """For every head, its largest K-composition score with any of ``senders`` in an earlier layer.

    K-composition (Elhage et al. 2021) of sender s into receiver r:
    ``‖W_OV^s W_QK^r^T‖_F / (‖W_OV^s‖_F ‖W_QK^r‖_F)``. Heads with no earlier
    sender get 0.
    """
    grid = composition_scores(model.weights, ("K",)).grid("K")  # zero unless sender layer < receiver's
    best = torch.zeros(model.n_layers, model.n_heads)
    for layer, head in senders:
        model.check_head(layer, head)
        best = torch.maximum(best, grid[layer, head].float().cpu())
    return best


def repeated_random_tokens(
    model: HookedModel, n_prompts: int = 8, span: int = 25, repeats: int = 2, seed: int = 0
) -> Int[Tensor, "batch pos"]:
    """Olsson et al.'s data: BOS, then ``span`` random tokens repeated ``repeats`` times.

    Tokens are ordinary tokens (no special tokens, no byte-fallback pieces: see
    :func:`circuits.tasks.tokens.content_ids`), avoiding the rarest 10% at the end of the vocabulary.
    """
    length = 1 + span * repeats
    if length > model.n_ctx:
        raise ValueError(
            f"span {span} x {repeats} repeats + BOS = {length} tokens; expected <= n_ctx={model.n_ctx}"
        )
    generator = torch.Generator().manual_seed(seed)
    limit = max(8, int(min(model.d_vocab, len(model.tokenizer)) * 0.9))
    pool = torch.as_tensor(content_ids(model))
    pool = pool[pool < limit]
    body = pool[torch.randint(0, len(pool), (n_prompts, span), generator=generator)].repeat(1, repeats)
    bos = model.tokenizer.bos_token_id if model.tokenizer.bos_token_id is not None else body[:, :1]
    bos = torch.as_tensor(bos).expand(n_prompts, 1) if not isinstance(bos, Tensor) else bos
    return torch.cat([bos, body], dim=1).long()


def find_induction_heads(
    model: HookedModel,
    tokens: Int[Tensor, "batch pos"] | None = None,
    *,
    thresholds: dict[str, float] | None = None,
    exclude_bos: bool = False,
    exclude_current_token: bool = False,
    seed: int = 0,
) -> HeadScores:
    """Score every head as previous-token, duplicate-token and induction head.

    Previous-token and duplicate-token heads are scored by the
    TransformerLens-compatible "mul" score. Induction heads are scored by
    Olsson et al.'s prefix-matching score, which is normalised by the query
    positions that have a match (the "mul" score cannot exceed
    ``(repeats - 1) / repeats`` on repeated sequences); the "mul" score, the
    copying score and the K-composition with the previous-token heads found
    here are evidence columns ``tl_mul``, ``copying`` and ``k_composition``.

    Args:
        tokens: Prompts with repeated tokens (default: :func:`repeated_random_tokens` with a span
            repeated 4 times; :func:`circuits.heads.kinds.default_inputs` gives a zoo model its own).
        thresholds: Per-kind thresholds (default :data:`DEFAULT_THRESHOLDS`).
        seed: Seeds the default prompts.
    """
    thresholds = DEFAULT_THRESHOLDS | (thresholds or {})
    if tokens is None:
        span = max(2, min(25, (model.n_ctx - 1) // 4))
        tokens = repeated_random_tokens(model, n_prompts=16, span=span, repeats=4, seed=seed)
    tokens = model.check_tokens(tokens)
    patterns = attention_patterns(model, tokens)
    scores = pattern_scores(
        model, tokens, exclude_bos=exclude_bos, exclude_current_token=exclude_current_token, patterns=patterns
    )
    prev = HeadScores.from_grid("previous_token", scores["previous_token"], thresholds["previous_token"])
    dup = HeadScores.from_grid("duplicate_token", scores["duplicate_token"], thresholds["duplicate_token"])
    evidence = {
        "tl_mul": scores["induction"],
        "copying": copying_scores(model),
        "k_composition": k_composition_with(model, prev.heads()),
    }
    prefix = prefix_matching_scores(model, tokens, patterns)
    induction = HeadScores.from_grid("induction", prefix, thresholds["induction"], evidence)
    return HeadScores.concat([prev, dup, induction])
