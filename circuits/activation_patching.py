"""Activation patching and ablation sweeps (Meng et al. 2022; Wang et al. 2022; Heimersheim & Nanda 2024).

Each cell of a sweep replaces one activation of a *base* run with a value from
elsewhere and measures a metric of the logits:

- **denoising**: base = corrupted run, values from the clean run (does this
  activation suffice to restore the behaviour?);
- **noising**: base = clean run, values from the corrupted run (is it necessary?);
- **ablation**: base = the prompts' own run, values zero, the mean over a
  reference distribution, or the activation on a random reference prompt.

Sites follow TransformerLens: the residual stream (``resid_pre``, ``resid_mid``,
``resid_post``), ``attn_out`` and ``mlp_out`` by layer (and position); head
outputs ``z``, queries ``q``, keys ``k``, values ``v`` by layer and head (and
position; ``k`` and ``v`` by key-value head under grouped-query attention); and
the attention ``pattern`` by layer and head (and destination position). Result
grids use TransformerLens's axis order, so ``scores`` equals the tensor of the
matching ``transformer_lens.patching.get_act_patch_*`` function called with the
metric ``lambda logits: metric(logits).mean()``.

Cells run on the batched engine (:mod:`interp.engine`): prefix and suffix reuse,
many cells per batch, unembedding only the metric's positions.

Example:
    >>> import torch
    >>> from interp.testing import tiny_model
    >>> model = tiny_model("gpt2")
    >>> clean, corrupted = torch.tensor([[1, 5, 6, 7]]), torch.tensor([[1, 8, 6, 7]])
    >>> r = activation_patching(model, clean, corrupted, logit_diff(9, 10), site="z", progress=False)
    >>> r.axes, tuple(r.scores.shape)
    (('layer', 'head'), (2, 4))
"""

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from jaxtyping import Int
from torch import Tensor

from circuits.ablation import AblationMode
from circuits.results import PatchingResult
from interp.engine import (
    DEFAULT_MEMORY_BUDGET,
    Engine,
    HookEngine,
    Metric,
    MetricFn,
    Patch,
    Site,
    Trace,
    accuracy,
    answer_prob,
    as_metric,
    engine_for,
    kl_to_clean,
    logit_diff,
)
from interp.engine.patches import HEAD_SITES, SITES

__all__ = [
    "Metric",
    "accuracy",
    "ablation",
    "activation_patching",
    "answer_prob",
    "kl_to_clean",
    "logit_diff",
    "sweep_cells",
]

Direction = Literal["denoising", "noising"]
"""``denoising``: clean values into the corrupted run. ``noising``: corrupted values into the clean run."""


def check_pair(clean: Tensor, corrupted: Tensor) -> None:
    """Raise unless clean and corrupted token ids have the same ``[batch, pos]`` shape."""
    if clean.shape != corrupted.shape:
        raise ValueError(
            f"clean and corrupted prompts must have the same shape [batch, pos] (patching aligns them "
            f"position by position); got clean {tuple(clean.shape)} and corrupted {tuple(corrupted.shape)}"
        )


def _axes(site: str, per_position: bool) -> tuple[str, ...]:
    if site not in SITES:
        raise ValueError(f"unknown site {site!r}; expected one of {SITES}")
    if site == "pattern":
        return ("layer", "head", "pos") if per_position else ("layer", "head")
    if site in HEAD_SITES:
        return ("layer", "pos", "head") if per_position else ("layer", "head")
    return ("layer", "pos") if per_position else ("layer",)


def sweep_cells(
    source: Callable[[int, str], Tensor],
    site: str,
    per_position: bool,
    *,
    layers: Sequence[int],
    n_heads: int,
    positions: Sequence[int],
) -> tuple[list[list[Patch]], tuple[str, ...], tuple[int, ...]]:
    """The cells of a sweep of ``site``, in TransformerLens's axis order.

    Args:
        source: ``source(layer, site)`` gives the replacement activation in
            TransformerLens layout (batch first; a batch of 1 broadcasts).
        site: The site swept.
        per_position: Sweep positions too (destination positions for ``pattern``).
        layers: Layers swept.
        n_heads: Heads per layer for this site (key-value heads for k and v).
        positions: Positions swept when ``per_position``.

    Returns:
        The cells, the axis names and the grid shape.
    """
    axes = _axes(site, per_position)
    cells: list[list[Patch]] = []
    for layer in layers:
        act = source(layer, site)
        if site in HEAD_SITES:
            pairs = [(h, None) for h in range(n_heads)]
            if per_position:
                if site == "pattern":
                    pairs = [(h, p) for h in range(n_heads) for p in positions]
                else:
                    pairs = [(h, p) for p in positions for h in range(n_heads)]
            for h, p in pairs:
                if site == "pattern":
                    value = act[:, h] if p is None else act[:, h, p]
                else:
                    value = act[:, :, h] if p is None else act[:, p, h]
                cells.append([Patch(layer=layer, site=site, head=h, pos=p, value=value)])
        else:
            for p in positions if per_position else [None]:
                value = act if p is None else act[:, p]
                cells.append([Patch(layer=layer, site=site, pos=p, value=value)])
    shape = {"layer": len(layers), "head": n_heads, "pos": len(positions)}
    return cells, axes, tuple(shape[a] for a in axes)


def _prepare(
    model: Any, engine: Engine | HookEngine | None, memory_budget: int, layers: Sequence[int] | None
) -> tuple[Engine | HookEngine, list[int]]:
    engine = engine if engine is not None else engine_for(model, memory_budget=memory_budget)
    layers = list(range(model.n_layers)) if layers is None else list(layers)
    for layer in layers:
        if not 0 <= layer < model.n_layers:
            raise ValueError(f"layer {layer} is out of range; expected 0 <= layer < {model.n_layers}")
    return engine, layers


def _positions(positions: Sequence[int] | None, n_pos: int) -> list[int]:
    if positions is None:
        return list(range(n_pos))
    out = []
    for p in positions:
        if not -n_pos <= p < n_pos:
            raise ValueError(
                f"position {p} is out of range for prompts of {n_pos} tokens; expected 0 <= pos < {n_pos}"
            )
        out.append(p % n_pos)
    return out


def _run(
    engine: Engine | HookEngine,
    base: Trace,
    source: Callable[[int, str], Tensor],
    metric: Metric,
    site: str,
    per_position: bool,
    layers: list[int],
    positions: list[int],
    model: Any,
    progress: bool,
) -> tuple[Tensor, Tensor, tuple[str, ...]]:
    n_heads = model.n_kv_heads if site in ("k", "v") else model.n_heads
    cells, axes, shape = sweep_cells(
        source, site, per_position, layers=layers, n_heads=n_heads, positions=positions
    )
    values = engine.run(base, cells, metric, progress=progress).cpu()
    per_prompt = values.reshape(*shape, base.batch)
    return per_prompt.mean(-1), per_prompt, axes


def activation_patching(
    model: Any,
    clean: Int[Tensor, "batch pos"],
    corrupted: Int[Tensor, "_batch _pos"],
    metric: Metric | MetricFn,
    *,
    site: Site = "z",
    per_position: bool = False,
    direction: Direction = "denoising",
    layers: Sequence[int] | None = None,
    positions: Sequence[int] | None = None,
    engine: Engine | HookEngine | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    progress: bool = True,
) -> PatchingResult:
    """Patch each activation of ``site`` between the clean and corrupted runs and score each cell.

    Args:
        model: A :class:`~interp.HookedModel`.
        clean: Clean token ids ``[batch, pos]``.
        corrupted: Corrupted token ids, the same shape (position ``i`` pairs with ``i``).
        metric: A :class:`~interp.engine.Metric` (see :func:`logit_diff` and friends) or a
            function of the last position's logits ``[batch, 1, d_vocab] -> [batch]``.
        site: What to patch (see the module docstring).
        per_position: Patch one position at a time (destination position for ``pattern``).
        direction: ``"denoising"`` or ``"noising"``.
        layers: Layers to sweep (default: all).
        positions: Positions to sweep when ``per_position`` (default: all).
        engine: An engine to reuse (default: :func:`~interp.engine.engine_for` the model).
        memory_budget: Bytes one chunk of cells may use.
        progress: Show a progress bar.

    Returns:
        A :class:`~circuits.results.PatchingResult`; ``baseline`` is the base run's
        mean metric and ``target`` the source run's, so ``normalized()`` is the
        normalised recovery when denoising.

    Raises:
        ValueError: On mismatched clean and corrupted shapes, an unknown site or
            direction, a layer or position out of range, or a metric that does not
            return one value per prompt.
    """
    if direction not in ("denoising", "noising"):
        raise ValueError(f"unknown direction {direction!r}; expected 'denoising' or 'noising'")
    clean, corrupted = model.check_tokens(clean), model.check_tokens(corrupted)
    check_pair(clean, corrupted)
    _axes(site, per_position)
    metric = as_metric(metric)
    engine, layers = _prepare(model, engine, memory_budget, layers)
    pos_list = _positions(positions, clean.shape[1])
    clean_trace, corrupt_trace = engine.trace(clean), engine.trace(corrupted)
    base, src = (corrupt_trace, clean_trace) if direction == "denoising" else (clean_trace, corrupt_trace)
    base_score = float(engine.score(base, metric).float().mean())
    target_score = float(engine.score(src, metric).float().mean())
    scores, per_prompt, axes = _run(
        engine, base, src.act, metric, site, per_position, layers, pos_list, model, progress
    )
    return PatchingResult(
        method="activation_patching",
        site=site,
        axes=axes,
        scores=scores,
        per_prompt=per_prompt,
        metric=metric.name,
        baseline=base_score,
        target=target_score,
        direction=direction,
        meta={"layers": layers, "positions": pos_list},
    )


def ablation(
    model: Any,
    tokens: Int[Tensor, "batch pos"],
    metric: Metric | MetricFn,
    *,
    site: Site = "z",
    per_position: bool = False,
    kind: AblationMode = "mean",
    reference: Int[Tensor, "ref pos"] | None = None,
    seed: int = 0,
    layers: Sequence[int] | None = None,
    positions: Sequence[int] | None = None,
    engine: Engine | HookEngine | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    progress: bool = True,
) -> PatchingResult:
    """Ablate each activation of ``site`` in the run of ``tokens`` and score each cell.

    Args:
        model: A :class:`~interp.HookedModel`.
        tokens: The prompts ``[batch, pos]``.
        metric: What to score (see :func:`activation_patching`).
        site: What to ablate.
        per_position: Ablate one position at a time.
        kind: ``"zero"``, ``"mean"`` (over ``reference``, per position) or ``"resample"``
            (each prompt takes the activation of a reference prompt drawn with ``seed``): the
            modes of :data:`circuits.ablation.AblationMode` but ``"masking"``, which replaces no
            activation (use :func:`circuits.ablation.ablation_study`).
        reference: Reference prompts for mean and resample ablation, the same length
            as ``tokens`` (default: ``tokens`` themselves).
        seed: Seed of the resample draw.
        layers, positions, engine, memory_budget, progress: As in :func:`activation_patching`.

    Returns:
        A :class:`~circuits.results.PatchingResult` with ``baseline`` the unablated mean metric.
    """
    if kind not in ("zero", "mean", "resample"):
        raise ValueError(f"unknown ablation {kind!r}; expected 'zero', 'mean' or 'resample'")
    tokens = model.check_tokens(tokens)
    reference = tokens if reference is None else model.check_tokens(reference)
    if reference.shape[1] != tokens.shape[1]:
        raise ValueError(
            f"reference prompts must have the prompts' length {tokens.shape[1]}; got {reference.shape[1]}"
        )
    _axes(site, per_position)
    metric = as_metric(metric)
    engine, layers = _prepare(model, engine, memory_budget, layers)
    pos_list = _positions(positions, tokens.shape[1])
    base = engine.trace(tokens)
    if kind == "zero":

        def source(layer: int, site_: str) -> Tensor:
            return torch.zeros_like(base.act(layer, site_)[:1])

    else:
        ref = base if reference is tokens else engine.trace(reference)
        if kind == "mean":
            ref = ref.mean()
        else:
            gen = torch.Generator().manual_seed(seed)
            ref = ref.select(
                torch.randint(ref.batch, (tokens.shape[0],), generator=gen).to(ref.tokens.device)
            )
        source = ref.act
    scores, per_prompt, axes = _run(
        engine, base, source, metric, site, per_position, layers, pos_list, model, progress
    )
    return PatchingResult(
        method=f"{kind}_ablation",
        site=site,
        axes=axes,
        scores=scores,
        per_prompt=per_prompt,
        metric=metric.name,
        baseline=float(engine.score(base, metric).float().mean()),
        meta={"layers": layers, "positions": pos_list, "seed": seed},
    )
