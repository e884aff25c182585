"""Circuit metrics (PAPERS.md, "Attribution and circuit evaluation").

- **ROC AUC** of per-head scores against a ground-truth head list
  (:func:`node_roc_auc`, scikit-learn ``roc_auc_score``), and of head-pair scores
  against the pairs of ground-truth heads (:func:`edge_roc_auc`).
- **Faithfulness** of a head set (:func:`faithfulness`): mean-ablate every head
  outside the set (:func:`circuits.ablation.ablation_hooks`, ``mode="mean"``) and
  keep the fraction of the task metric, ``(m_circuit - m_none) / (m_full - m_none)``,
  where ``m_full`` is the unablated model and ``m_none`` has every head ablated.
- **CPR and CMD** (MIB, Mueller et al. 2025) over circuit sizes
  (:func:`faithfulness_curve`): the top-``k`` heads by score for every ``k`` from 0
  to all heads; CPR is the area under faithfulness against the fraction of heads
  kept (higher is better), CMD the area under ``|1 - faithfulness|`` (0 is best),
  both by the trapezoid rule. (MIB sweeps a fixed grid of edge percentages; with the
  few heads of small models every size is affordable.)

:class:`CircuitTask` is a task as the metrics and finders see it.

Example:
    >>> scores = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    >>> node_roc_auc(scores, [(0, 0), "L1H1"])
    1.0
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from jaxtyping import Float, Int
from torch import Tensor

from circuits.ablation import ablation_hooks, evaluate
from circuits.heads.scores import HeadScores, head_name, parse_head_name
from interp import HookedModel
from interp.engine import MetricFn

HeadLike = tuple[int, int] | Sequence[int] | str
"""A head as ``(layer, head)`` or ``"L1H2"``."""


def parse_heads(heads: Sequence[HeadLike], n_layers: int, n_heads: int) -> list[tuple[int, int]]:
    """``(layer, head)`` pairs from tuples or ``"L1H2"`` names; raises naming heads outside the model."""
    parsed, bad = [], []
    for item in heads:
        if isinstance(item, str):
            pair = parse_head_name(item)
        else:
            if len(item) != 2:
                raise ValueError(f"a head is (layer, head); got {item!r}")
            pair = (int(item[0]), int(item[1]))
        if not (0 <= pair[0] < n_layers and 0 <= pair[1] < n_heads):
            bad.append(head_name(*pair))
        parsed.append(pair)
    if bad:
        raise ValueError(
            f"the ground truth names heads the model does not have: {bad}; "
            f"expected layers 0..{n_layers - 1} and heads 0..{n_heads - 1}"
        )
    return list(dict.fromkeys(parsed))


def score_grid(scores: Any) -> Tensor:
    """Scores as a ``[layer, head]`` grid, from a tensor, an array or single-kind :class:`HeadScores`."""
    if isinstance(scores, HeadScores):
        kinds = scores.kinds
        if len(kinds) != 1:
            raise ValueError(f"HeadScores with several kinds {kinds}; pick one with .of(kind)")
        scores = scores.grid(kinds[0])
    grid = torch.as_tensor(scores, dtype=torch.float64).detach().cpu()
    if grid.ndim != 2:
        raise ValueError(f"head scores must be a [layer, head] grid; got shape {tuple(grid.shape)}")
    if torch.isnan(grid).any():
        raise ValueError("head scores contain NaN; expected a score for every head")
    return grid


def _labels(shape: tuple[int, int], ground_truth: Sequence[HeadLike]) -> np.ndarray:
    labels = np.zeros(shape, dtype=int)
    for layer, head in parse_heads(ground_truth, *shape):
        labels[layer, head] = 1
    return labels


def node_roc_auc(
    scores: Float[Tensor, "layer head"] | HeadScores,
    ground_truth: Sequence[HeadLike],
    *,
    model: HookedModel | None = None,
) -> float:
    """ROC AUC of per-head scores against the ground-truth heads (higher score = in the circuit).

    Args:
        scores: ``[layer, head]`` scores (or single-kind :class:`HeadScores`).
        ground_truth: The circuit's heads, ``(layer, head)`` or ``"L1H2"``.
        model: When given, the ground truth is checked against its layers and heads.

    Raises:
        ValueError: When the ground truth names heads the model (or the grid) lacks, or when it
            contains every head or none (AUC undefined).
    """
    from sklearn.metrics import roc_auc_score

    grid = score_grid(scores)
    shape = (model.n_layers, model.n_heads) if model is not None else tuple(grid.shape)
    labels = _labels(shape, ground_truth)
    if grid.shape != labels.shape:
        raise ValueError(
            f"scores have shape {tuple(grid.shape)}; the model has {shape[0]} x {shape[1]} heads"
        )
    if labels.sum() in (0, labels.size):
        raise ValueError(
            f"ROC AUC needs heads both in and out of the circuit; the ground truth has {labels.sum()} "
            f"of {labels.size} heads"
        )
    return float(roc_auc_score(labels.flatten(), grid.numpy().flatten()))


def edge_roc_auc(
    edge_scores: Float[Tensor, "node node"],
    ground_truth: Sequence[HeadLike],
    n_heads: int,
    *,
    ground_truth_edges: Sequence[tuple[HeadLike, HeadLike]] | None = None,
) -> float:
    """ROC AUC of head-pair scores (heads flattened layer-major) over unordered pairs.

    A pair is positive when both heads are in ``ground_truth`` (or, when given, when it is one of
    ``ground_truth_edges``).
    """
    from sklearn.metrics import roc_auc_score

    n = edge_scores.shape[0]
    if edge_scores.shape != (n, n) or n % n_heads:
        raise ValueError(
            f"edge scores must be [node, node] over layer x {n_heads} heads; got {edge_scores.shape}"
        )
    n_layers = n // n_heads
    in_circuit = {layer * n_heads + head for layer, head in parse_heads(ground_truth, n_layers, n_heads)}
    wanted = None
    if ground_truth_edges is not None:
        wanted = set()
        for a, b in ground_truth_edges:
            ((la, ha),), ((lb, hb),) = (
                parse_heads([a], n_layers, n_heads),
                parse_heads([b], n_layers, n_heads),
            )
            wanted.add(tuple(sorted((la * n_heads + ha, lb * n_heads + hb))))
    i, j = torch.triu_indices(n, n, offset=1)
    labels = [
        int((a, b) in wanted) if wanted is not None else int(a in in_circuit and b in in_circuit)
        for a, b in zip(i.tolist(), j.tolist(), strict=True)
    ]
    if len(set(labels)) < 2:
        raise ValueError("edge ROC AUC needs pairs both in and out of the circuit")
    return float(roc_auc_score(labels, edge_scores[i, j].double().cpu().numpy()))


@dataclass(frozen=True, kw_only=True)
class Faithfulness:
    """How much of the task metric a head set keeps on its own.

    Attributes:
        heads: The circuit.
        full: Mean metric of the unablated model.
        none: Mean metric with every head mean-ablated.
        circuit: Mean metric with every head outside the circuit mean-ablated.
        faithfulness: ``(circuit - none) / (full - none)``.
    """

    heads: list[tuple[int, int]]
    full: float
    none: float
    circuit: float
    faithfulness: float


def _all_heads(model: HookedModel) -> list[tuple[int, int]]:
    return [(layer, head) for layer in range(model.n_layers) for head in range(model.n_heads)]


def _ablated_mean(
    model: HookedModel,
    keep: Sequence[tuple[int, int]],
    tokens: Tensor,
    metric: MetricFn,
    reference: Tensor | None,
) -> float:
    kept = set(keep)
    removed = [pair for pair in _all_heads(model) if pair not in kept]
    hooks = ablation_hooks(model, removed, "mean", tokens, reference) if removed else []
    return float(evaluate(model, tokens, metric, hooks).mean())


def _endpoints(model, tokens, metric, reference) -> tuple[float, float]:
    full = float(evaluate(model, tokens, metric).mean())
    none = _ablated_mean(model, [], tokens, metric, reference)
    if abs(full - none) < 1e-9:
        raise ValueError(
            f"the metric is the same with and without every head ({full:.4g}); faithfulness is undefined"
        )
    return full, none


def faithfulness(
    model: HookedModel,
    heads: Sequence[HeadLike],
    tokens: Int[Tensor, "batch pos"],
    metric: MetricFn,
    *,
    reference_tokens: Int[Tensor, "ref ref_pos"] | None = None,
) -> Faithfulness:
    """Faithfulness of ``heads``: mean-ablate every other head and keep the fraction of the metric.

    Args:
        heads: The circuit.
        tokens: Prompts the metric is measured on.
        metric: Logits ``[batch, pos, d_vocab]`` -> one value per prompt.
        reference_tokens: The distribution whose mean replaces ablated heads (default ``tokens``).
    """
    circuit = parse_heads(heads, model.n_layers, model.n_heads)
    tokens = model.check_tokens(tokens)
    full, none = _endpoints(model, tokens, metric, reference_tokens)
    kept = _ablated_mean(model, circuit, tokens, metric, reference_tokens)
    return Faithfulness(
        heads=circuit, full=full, none=none, circuit=kept, faithfulness=(kept - none) / (full - none)
    )


def rank_heads(scores: Float[Tensor, "layer head"] | HeadScores) -> list[tuple[int, int]]:
    """Heads from highest to lowest score (ties in layer order)."""
    grid = score_grid(scores)
    order = torch.argsort(-grid.flatten(), stable=True)
    return [divmod(int(i), grid.shape[1]) for i in order]


def faithfulness_curve(
    model: HookedModel,
    scores: Float[Tensor, "layer head"] | HeadScores,
    tokens: Int[Tensor, "batch pos"],
    metric: MetricFn,
    *,
    sizes: Sequence[int] | None = None,
    reference_tokens: Int[Tensor, "ref ref_pos"] | None = None,
) -> pd.DataFrame:
    """Faithfulness of the top-``k`` heads for each circuit size ``k``.

    Returns:
        One row per size: ``n_heads, fraction`` (of all heads), ``faithfulness``, ``metric``.
    """
    ranked = rank_heads(scores)
    total = len(ranked)
    if total != model.n_layers * model.n_heads:
        raise ValueError(f"scores cover {total} heads; the model has {model.n_layers * model.n_heads}")
    sizes = list(range(total + 1)) if sizes is None else sorted({int(k) for k in sizes})
    if any(not 0 <= k <= total for k in sizes):
        raise ValueError(f"circuit sizes must lie in 0..{total}; got {sizes}")
    tokens = model.check_tokens(tokens)
    full, none = _endpoints(model, tokens, metric, reference_tokens)
    rows = []
    for k in sizes:
        value = (
            full
            if k == total
            else none
            if k == 0
            else _ablated_mean(model, ranked[:k], tokens, metric, reference_tokens)
        )
        rows.append(
            {
                "n_heads": k,
                "fraction": k / total,
                "faithfulness": (value - none) / (full - none),
                "metric": value,
            }
        )
    return pd.DataFrame(rows)


def cpr_cmd(curve: pd.DataFrame) -> tuple[float, float]:
    """MIB's CPR (area under faithfulness) and CMD (area under |1 - faithfulness|) over the fraction axis."""
    if len(curve) < 2:
        raise ValueError("CPR and CMD need a faithfulness curve of at least two circuit sizes")
    curve = curve.sort_values("fraction")
    x, f = curve["fraction"].to_numpy(), curve["faithfulness"].to_numpy()
    return float(np.trapezoid(f, x)), float(np.trapezoid(np.abs(1 - f), x))


@dataclass(frozen=True, kw_only=True)
class CircuitTask:
    """A task as the comparison sees it.

    Attributes:
        name: The task's name.
        clean_tokens: The task's prompts (the SAE finder's positives, those of them in ``solved``).
        corrupted_tokens: Their corrupted versions (patching sources; the SAE finder's negatives).
        metric: Logits ``[batch, pos, d_vocab]`` -> one value per prompt (e.g. logit difference); an
            :class:`interp.engine.Metric` works too.
        ground_truth: The circuit's heads.
        reference_tokens: Mean-ablation distribution for faithfulness (default ``clean_tokens``).
        negative_tokens: Prompts the model cannot complete, the SAE finder's negatives when the
            corrupted prompts are counterfactuals the model solves too (default: ``corrupted_tokens``).
        solved: Which clean prompts the model completes correctly (bool, one per prompt): the SAE
            finder's positives are these alone, as in O'Neill & Bui. ``None``: every clean prompt.
    """

    name: str
    clean_tokens: Tensor
    corrupted_tokens: Tensor
    metric: MetricFn
    ground_truth: list[Any]
    reference_tokens: Tensor | None = None
    negative_tokens: Tensor | None = None
    solved: Tensor | None = None
