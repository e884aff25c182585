"""Circuit finders side by side: :func:`compare_finders` scores finders on the same tasks and reports
AUC, faithfulness at the ground truth's size, CPR, CMD and runtime per finder
(:class:`ComparisonResult`: a DataFrame and a plotly figure).

The metrics live in :mod:`circuits.circuit_metrics`, the finders in :mod:`circuits.circuit_finders`;
both are re-exported here.

Example:
    >>> import torch
    >>> node_roc_auc(torch.tensor([[0.9, 0.1], [0.2, 0.8]]), [(0, 0), "L1H1"])
    1.0
"""

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd
from torch import Tensor

from circuits.circuit_finders import FINDERS as FINDERS
from circuits.circuit_finders import Finder as Finder
from circuits.circuit_finders import FinderUnavailable as FinderUnavailable
from circuits.circuit_finders import register_finder as register_finder
from circuits.circuit_metrics import CircuitTask as CircuitTask
from circuits.circuit_metrics import Faithfulness as Faithfulness
from circuits.circuit_metrics import HeadLike as HeadLike
from circuits.circuit_metrics import cpr_cmd as cpr_cmd
from circuits.circuit_metrics import edge_roc_auc as edge_roc_auc
from circuits.circuit_metrics import faithfulness as faithfulness
from circuits.circuit_metrics import faithfulness_curve as faithfulness_curve
from circuits.circuit_metrics import node_roc_auc as node_roc_auc
from circuits.circuit_metrics import parse_heads as parse_heads
from circuits.circuit_metrics import rank_heads as rank_heads
from circuits.circuit_metrics import score_grid as score_grid
from circuits.heads.scores import head_name
from interp import HookedModel


@dataclass(frozen=True)
class ComparisonResult:
    """Finders side by side.

    Attributes:
        df: One row per (task, finder): ``task, finder, auc, faithfulness`` (of the top heads, as many as
            the ground truth has, or ``top_k`` of them), ``ground_truth_faithfulness``, ``cpr, cmd,
            runtime_s, n_heads_gt, heads`` (the top heads, comma-separated), ``error``. Without ground
            truth ``auc`` and ``ground_truth_faithfulness`` are NaN.
        scores: The head scores by ``(task, finder)``.
        curves: Faithfulness curves by ``(task, finder)``.
    """

    df: pd.DataFrame
    scores: dict[tuple[str, str], Tensor] = field(default_factory=dict)
    curves: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)

    def plot(self):
        """Grouped bars per task: node ROC AUC, faithfulness, CPR and runtime of every finder."""
        from plotly.subplots import make_subplots

        panels = [
            ("auc", "node ROC AUC"),
            ("faithfulness", "faithfulness"),
            ("cpr", "CPR"),
            ("runtime_s", "runtime (s)"),
        ]
        fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[title for _, title in panels])
        for i, finder in enumerate(dict.fromkeys(self.df["finder"])):
            rows = self.df[self.df["finder"] == finder]
            for col, (column, _) in enumerate(panels, start=1):
                fig.add_bar(
                    x=rows["task"],
                    y=rows[column],
                    name=finder,
                    legendgroup=finder,
                    showlegend=col == 1,
                    marker_color=_COLORS[i % len(_COLORS)],
                    row=1,
                    col=col,
                )
        fig.update_yaxes(type="log", row=1, col=len(panels))
        return fig.update_layout(barmode="group", title="Circuit finders on the same tasks")

    def overlap(self, task: str, k: int) -> pd.DataFrame:
        """Jaccard overlap of the finders' top-``k`` heads on one task: a finder x finder table (1 on the
        diagonal). Finders that agree without ground truth at least point at the same heads."""
        if k < 1:
            raise ValueError(f"k={k!r}; expected at least one head")
        tops = {f: set(rank_heads(grid)[:k]) for (t, f), grid in self.scores.items() if t == task}
        if not tops:
            raise ValueError(f"no scores for task {task!r}; tasks are {sorted({t for t, _ in self.scores})}")
        return pd.DataFrame(
            {a: {b: len(tops[a] & tops[b]) / len(tops[a] | tops[b]) for b in tops} for a in tops}
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "rows": json.loads(self.df.to_json(orient="records")),
                "scores": {f"{t}/{f}": s.tolist() for (t, f), s in self.scores.items()},
            }
        )


_COLORS = ["#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3"]


def compare_finders(
    model: HookedModel,
    tasks: Sequence[CircuitTask],
    finders: Sequence[str] | Mapping[str, Finder] | None = None,
    *,
    curve: bool = True,
    top_k: int | None = None,
    sizes: Sequence[int] | None = None,
) -> ComparisonResult:
    """Score each finder on each task: node ROC AUC, faithfulness, CPR/CMD and runtime.

    Args:
        tasks: The tasks, each with its ground-truth heads, or none (a real model's task, where no one
            knows the circuit): then AUC is NaN and the finders are compared by faithfulness, CPR, CMD,
            runtime and the heads they name (:meth:`ComparisonResult.overlap`).
        finders: Names from :data:`FINDERS`, or a mapping name -> finder (default: all registered).
        curve: Also sweep circuit sizes for CPR and CMD (one forward pass per size).
        top_k: The circuit size whose faithfulness is reported and whose heads are listed (default: as
            many heads as the ground truth has; required for a task without ground truth).
        sizes: The circuit sizes of the curve (default: every size; on a model of hundreds of heads a
            few dozen sizes spread over the range keep the areas close at a fraction of the cost).

    A finder whose implementation is unavailable (:class:`FinderUnavailable`) gets a row with its
    ``error`` and NaN numbers; any other error propagates.
    """
    if finders is None:
        chosen = dict(FINDERS)
    elif isinstance(finders, Mapping):
        chosen = dict(finders)
    else:
        unknown = [name for name in finders if name not in FINDERS]
        if unknown:
            raise ValueError(f"unknown finder(s) {unknown}; expected some of {sorted(FINDERS)}")
        chosen = {name: FINDERS[name] for name in finders}
    if top_k is not None and not 1 <= int(top_k) <= model.n_layers * model.n_heads:
        raise ValueError(f"top_k={top_k!r}; expected 1..{model.n_layers * model.n_heads} heads")
    rows, all_scores, curves = [], {}, {}
    for task in tasks:
        truth = parse_heads(task.ground_truth, model.n_layers, model.n_heads)
        if not truth and top_k is None:
            raise ValueError(
                f"task {task.name!r} has no ground-truth heads; name them, or pass top_k to compare the "
                "finders' top heads without ground truth"
            )
        if len(truth) == model.n_layers * model.n_heads:
            raise ValueError(
                f"task {task.name!r}: the ground truth names all {len(truth)} heads; ROC AUC needs heads "
                "outside the circuit, so leave the task out or name fewer heads"
            )
        reference = task.reference_tokens
        k = int(top_k) if top_k is not None else len(truth)
        gt_faith = (
            faithfulness(
                model, truth, task.clean_tokens, task.metric, reference_tokens=reference
            ).faithfulness
            if truth
            else float("nan")
        )
        for name, finder in chosen.items():
            row = {"task": task.name, "finder": name, "n_heads_gt": len(truth), "error": ""}
            start = time.perf_counter()
            try:
                scores = finder(model, task)
            except FinderUnavailable as err:
                rows.append(row | {"error": str(err)})
                continue
            row["runtime_s"] = time.perf_counter() - start
            grid = score_grid(scores).float()
            all_scores[(task.name, name)] = grid
            row["auc"] = node_roc_auc(grid, truth, model=model) if truth else float("nan")
            top = rank_heads(grid)[:k]
            row["heads"] = ",".join(head_name(layer, head) for layer, head in top)
            row["faithfulness"] = faithfulness(
                model, top, task.clean_tokens, task.metric, reference_tokens=reference
            ).faithfulness
            row["ground_truth_faithfulness"] = gt_faith
            if curve:
                c = faithfulness_curve(
                    model, grid, task.clean_tokens, task.metric, sizes=sizes, reference_tokens=reference
                )
                curves[(task.name, name)] = c
                row["cpr"], row["cmd"] = cpr_cmd(c)
            rows.append(row)
    columns = [
        "task",
        "finder",
        "auc",
        "faithfulness",
        "ground_truth_faithfulness",
        "cpr",
        "cmd",
        "runtime_s",
        "n_heads_gt",
        "heads",
        "error",
    ]
    return ComparisonResult(pd.DataFrame(rows).reindex(columns=columns), all_scores, curves)
