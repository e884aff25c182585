"""Path patching: a sender head's effect through one path (Wang et al. 2022; Merullo et al. 2023).

A sender head's output is taken from the *source* run; the *base* run is
otherwise kept. The change reaches either the receivers' query, key or value
inputs, or the logits:

- ``through_mlps=True`` (Wang et al.'s and Merullo et al.'s recipe): run the
  base prompts with the sender patched and every other head frozen to its base
  output, MLPs recomputed; take the receivers' q/k/v inputs (or the logits) from
  that run; for receivers, patch those q/k/v into a fresh base run.
- ``through_mlps=False`` (the direct edge, as TransformerLens
  ``get_act_patch_direct_path``): the sender's write ``z @ W_O`` changes by
  ``source - base`` only inside the receivers' q/k/v inputs (before their
  norm), or only in the residual stream read by the unembedding.

Merullo et al. patch the corrupted sender output at the final position into the
clean run (``direction="noising"``, ``sender_positions=[-1]``) and score
``(LD_patched - LD_clean) / (LD_corrupt - LD_clean)``, which is
:meth:`~circuits.results.PatchingResult.normalized` here. TransformerLens's direct
path adds the clean-minus-corrupted write to the corrupted run
(``direction="denoising"``, every position).

Example:
    >>> import torch
    >>> from interp.testing import tiny_model
    >>> from interp.engine import logit_diff
    >>> model = tiny_model("gpt2")
    >>> clean, corrupted = torch.tensor([[1, 5, 6, 7]]), torch.tensor([[1, 8, 6, 7]])
    >>> r = path_patching(model, clean, corrupted, logit_diff(9, 10), receivers=[(1, 0)])
    >>> r.axes, tuple(r.scores.shape)
    (('layer', 'head'), (2, 4))
"""

from collections.abc import Sequence
from typing import Any, Literal

import torch
from jaxtyping import Int
from torch import Tensor

from circuits.activation_patching import Direction, check_pair
from circuits.results import PatchingResult
from interp.engine import DEFAULT_MEMORY_BUDGET, Engine, Metric, MetricFn, Patch, Trace, as_metric
from interp.engine.trace import gather_metric_logits, metric_rows

Component = Literal["q", "k", "v"]
"""Which input of a receiver head the path ends in."""


def _heads(model: Any, heads: Sequence[tuple[int, int]] | None, what: str) -> list[tuple[int, int]]:
    if heads is None:
        return [(layer, h) for layer in range(model.n_layers) for h in range(model.n_heads)]
    out = []
    for layer, h in heads:
        try:
            out.append(model.check_head(int(layer), int(h)))
        except ValueError as e:
            raise ValueError(f"{what}: {e}") from None
    return out


def _frozen_resids(
    engine: Engine, base: Trace, src: Trace, senders: list[tuple[int, int]], positions: Tensor | None
) -> list[Tensor]:
    """Block inputs (and the final residual) with each sender patched and every other head frozen.

    Returns one ``[senders, batch, pos, d_model]`` tensor per layer, plus the final residual last.
    """
    c, n_layers = len(senders), engine.n_layers
    sel = slice(None) if positions is None else positions
    x = base.act(0, "resid_pre").unsqueeze(0).repeat(c, 1, 1, 1)
    out = []
    with torch.no_grad():
        for layer in range(n_layers):
            out.append(x)
            z = base.act(layer, "z").unsqueeze(0).repeat(c, 1, 1, 1, 1)
            for ci, (sl, sh) in enumerate(senders):
                if sl == layer:
                    z[ci, :, sel, sh] = src.act(layer, "z")[:, sel, sh]
            attn_out = engine._attn_from_z(layer, z)
            mid = x + attn_out
            mlp_in = engine._ln("ln2", layer, x if engine.w.parallel_attn_mlp else mid)
            x = mid + engine._mlp(layer, mlp_in)
        out.append(x)
    return out


def _direct_resids(
    engine: Engine, base: Trace, src: Trace, senders: list[tuple[int, int]], positions: Tensor | None
) -> list[Tensor]:
    """Block inputs (and the final residual) changed only by each sender's direct write."""
    w = engine.w
    deltas = []
    for sl, sh in senders:
        dz = src.act(sl, "z")[:, :, sh] - base.act(sl, "z")[:, :, sh]
        delta = dz @ w.W_O[sl, sh]
        if positions is not None:
            keep = torch.zeros(delta.shape[1], dtype=torch.bool, device=delta.device)
            keep[positions] = True
            delta = delta * keep[None, :, None]
        deltas.append(delta)
    delta = torch.stack(deltas)
    layer_after = torch.tensor([sl for sl, _ in senders], device=delta.device)
    out = []
    for layer in range(engine.n_layers):
        live = (layer_after < layer).to(delta.dtype)[:, None, None, None]
        out.append(base.act(layer, "resid_pre").unsqueeze(0) + live * delta)
    out.append(base.final.unsqueeze(0) + delta)
    return out


def _receiver_value(engine: Engine, resid: Tensor, layer: int, head: int, component: str) -> Tensor:
    """A receiver's q, k or v (before rotary) computed from its own copy of the residual input."""
    w = engine.w
    x = engine._ln("ln1", layer, resid)
    W = {"q": w.W_Q, "k": w.W_K, "v": w.W_V}[component][layer, head]
    b = {"q": w.b_Q, "k": w.b_K, "v": w.b_V}[component][layer, head]
    return x @ W + b


def path_patching(
    model: Any,
    clean: Int[Tensor, "batch pos"],
    corrupted: Int[Tensor, "_batch _pos"],
    metric: Metric | MetricFn,
    *,
    senders: Sequence[tuple[int, int]] | None = None,
    receivers: Sequence[tuple[int, int]] | Literal["logits"] | None = "logits",
    components: Sequence[Component] = ("q", "k", "v"),
    per_receiver: bool = False,
    direction: Direction = "noising",
    sender_positions: Sequence[int] | None = None,
    through_mlps: bool = True,
    engine: Engine | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> PatchingResult:
    """Score each sender head by patching its path into the receivers (or the logits).

    Args:
        model: A :class:`~interp.HookedModel` whose architecture has a canonical-weights adapter.
        clean, corrupted: Token ids ``[batch, pos]`` of the same shape.
        metric: What to score (see :mod:`circuits.activation_patching`).
        senders: Sender heads ``(layer, head)`` (default: every head), each patched alone.
        receivers: Receiver heads (None: every head), or ``"logits"``.
        components: Which receiver inputs the path ends in.
        per_receiver: Patch one receiver at a time (the result gets ``receiver_layer`` and
            ``receiver_head`` axes; receivers not after the sender are NaN), else all together.
        direction: ``"noising"`` (corrupted sender into the clean run, Merullo et al.) or
            ``"denoising"`` (clean sender into the corrupted run, TransformerLens).
        sender_positions: Positions whose sender output is patched (default: all).
        through_mlps: Let the path run through MLPs (other heads frozen), else direct edges only.
        engine: A fast :class:`~interp.engine.Engine` to reuse.
        memory_budget: Bytes one chunk of cells may use.

    Returns:
        Scores on axes ``(layer, head)`` of the senders (NaN for heads not sent from), plus
        ``(receiver_layer, receiver_head)`` when ``per_receiver``.
    """
    if direction not in ("denoising", "noising"):
        raise ValueError(f"unknown direction {direction!r}; expected 'denoising' or 'noising'")
    bad = [c for c in components if c not in ("q", "k", "v")]
    if bad or not components:
        raise ValueError(f"components must be a non-empty subset of ('q', 'k', 'v'); got {list(components)}")
    clean, corrupted = model.check_tokens(clean), model.check_tokens(corrupted)
    check_pair(clean, corrupted)
    metric = as_metric(metric)
    senders = _heads(model, senders, "sender")
    to_logits = isinstance(receivers, str)
    if to_logits and receivers != "logits":
        raise ValueError(f"receivers must be a list of (layer, head) or 'logits'; got {receivers!r}")
    rec = [] if to_logits else _heads(model, receivers, "receiver")
    if not to_logits and model.n_kv_heads != model.n_heads and any(c in ("k", "v") for c in components):
        raise ValueError(
            f"the model shares keys and values across query heads (n_kv_heads={model.n_kv_heads}, "
            f"n_heads={model.n_heads}), so a path into one head's k or v input is undefined; "
            "use components=('q',)"
        )
    n_pos = clean.shape[1]
    positions = None
    if sender_positions is not None:
        for p in sender_positions:
            if not -n_pos <= p < n_pos:
                raise ValueError(f"sender position {p} is out of range; expected 0 <= pos < {n_pos}")
        positions = torch.tensor([p % n_pos for p in sender_positions], device=model.device)
    engine = (
        engine
        if engine is not None
        else Engine(model.weights, device=model.device, memory_budget=memory_budget)
    )
    clean_t, corrupt_t = engine.trace(clean), engine.trace(corrupted)
    base, src = (corrupt_t, clean_t) if direction == "denoising" else (clean_t, corrupt_t)
    resids = (_frozen_resids if through_mlps else _direct_resids)(engine, base, src, senders, positions)

    L, H, b = model.n_layers, model.n_heads, clean.shape[0]
    if to_logits:
        rows, index = metric_rows(metric, b, n_pos)
        vocab = None if metric.vocab is None else metric.vocab.to(engine.device)
        with torch.no_grad():
            logits = gather_metric_logits(engine._unembed(resids[-1][:, :, rows], vocab), index)
        values = torch.stack([metric.evaluate(logits[i], b).float() for i in range(len(senders))])
        grid_shape: tuple[int, ...] = (L, H)
        flat_index = [(sl, sh) for sl, sh in senders]
    else:
        cells: list[list[Patch]] = []
        flat_index = []
        for ci, (sl, sh) in enumerate(senders):
            targets = [(rl, rh) for rl, rh in rec if rl > sl]
            groups = [[t] for t in targets] if per_receiver else ([targets] if targets else [])
            for group in groups:
                with torch.no_grad():
                    cell = [
                        Patch(
                            layer=rl,
                            site=comp,
                            head=rh if comp == "q" else rh // engine.group,
                            value=_receiver_value(engine, resids[rl][ci], rl, rh, comp),
                        )
                        for rl, rh in group
                        for comp in components
                    ]
                cells.append(cell)
                flat_index.append((sl, sh, *group[0]) if per_receiver else (sl, sh))
        values = engine.run(base, cells, metric) if cells else torch.empty(0, b)
        grid_shape = (L, H, L, H) if per_receiver else (L, H)
    per_prompt = torch.full((*grid_shape, b), float("nan"))
    for i, idx in enumerate(flat_index):
        per_prompt[idx] = values[i].cpu()
    axes = ("layer", "head", "receiver_layer", "receiver_head") if per_receiver else ("layer", "head")
    return PatchingResult(
        method="path_patching",
        site="logits" if to_logits else "+".join(components),
        axes=axes,
        scores=per_prompt.mean(-1),
        per_prompt=per_prompt,
        metric=metric.name,
        baseline=float(engine.score(base, metric).float().mean()),
        target=float(engine.score(src, metric).float().mean()),
        direction=direction,
        meta={
            "receivers": "logits" if to_logits else [list(r) for r in rec],
            "through_mlps": through_mlps,
            "sender_positions": None if positions is None else positions.tolist(),
        },
    )
