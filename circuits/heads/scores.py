"""``HeadScores``: the one result type of every head finder.

A tidy table with one row per (layer, head, kind): the score, the threshold
it is compared with, whether the head counts as that kind, and any evidence
columns the finder adds (per-set scores, ablation effects, ...).

Example:
    >>> s = HeadScores.from_grid("induction", [[0.1, 0.9], [0.5, 0.2]], threshold=0.4)
    >>> s.heads("induction")
    [(0, 1), (1, 0)]
    >>> s.top(1)[["layer", "head"]].values.tolist()
    [[0, 1]]
"""

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch

COLUMNS = ["layer", "head", "kind", "score", "threshold", "is_head"]

REJECTED = "rejected_because"
"""Column a finder fills when a head passes its score threshold but fails another rule of its kind."""


def head_name(layer: int, head: int) -> str:
    """``(5, 1) -> "L5H1"``: the one text form of a head."""
    return f"L{layer}H{head}"


_HEAD_NAME = re.compile(r"[Ll](\d+)[Hh](\d+)")


def parse_head_name(text: str) -> tuple[int, int]:
    """``"L5H1" -> (5, 1)`` (either case, spaces around it allowed); the inverse of :func:`head_name`.

    Raises:
        ValueError: Text that is not a head name, naming it.
    """
    match = _HEAD_NAME.fullmatch(str(text).strip())
    if not match:
        raise ValueError(f"cannot read head {text!r}; expected a name like 'L1H2'")
    return int(match.group(1)), int(match.group(2))


@dataclass(frozen=True)
class HeadScores:
    """Scores of attention heads for one or more head kinds.

    Attributes:
        df: One row per (layer, head, kind) with columns ``layer, head, kind,
            score, threshold, is_head`` and optional evidence columns.
        skipped: Kinds left out, each with the reason (the model's tokenizer cannot
            express the kind's task, or the model fails it).
    """

    df: pd.DataFrame
    skipped: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in COLUMNS if c not in self.df.columns]
        if missing:
            raise ValueError(f"HeadScores needs columns {COLUMNS}; missing {missing}")

    @classmethod
    def from_grid(
        cls,
        kind: str,
        scores: Any,
        threshold: float,
        evidence: dict[str, Any] | None = None,
    ) -> "HeadScores":
        """Build from a ``[layer, head]`` grid of scores (plus evidence grids of the same shape)."""
        grid = torch.as_tensor(scores, dtype=torch.float64)
        if grid.ndim != 2:
            raise ValueError(f"scores must be a [layer, head] grid, got shape {tuple(grid.shape)}")
        n_layers, n_heads = grid.shape
        rows = {
            "layer": [layer for layer in range(n_layers) for _ in range(n_heads)],
            "head": [head for _ in range(n_layers) for head in range(n_heads)],
            "kind": kind,
            "score": grid.flatten().tolist(),
            "threshold": float(threshold),
        }
        df = pd.DataFrame(rows)
        df["is_head"] = df["score"] > threshold
        for name, values in (evidence or {}).items():
            values = torch.as_tensor(values, dtype=torch.float64)
            if values.shape != grid.shape:
                raise ValueError(
                    f"evidence {name!r} has shape {tuple(values.shape)}; expected {tuple(grid.shape)}"
                )
            df[name] = values.flatten().tolist()
        return cls(df)

    @classmethod
    def concat(cls, parts: Iterable["HeadScores"]) -> "HeadScores":
        """Stack the rows of several results (evidence columns missing in a part become NaN)."""
        return cls(pd.concat([p.df for p in parts], ignore_index=True))

    @property
    def kinds(self) -> list[str]:
        return list(dict.fromkeys(self.df["kind"]))

    def of(self, kind: str) -> "HeadScores":
        """The rows of one kind."""
        if kind not in self.kinds:
            raise ValueError(f"no scores for kind {kind!r}; expected one of {self.kinds}")
        return HeadScores(self.df[self.df["kind"] == kind].reset_index(drop=True))

    def grid(self, kind: str) -> torch.Tensor:
        """The ``[layer, head]`` grid of scores of one kind."""
        df = self.of(kind).df
        grid = torch.full((int(df["layer"].max()) + 1, int(df["head"].max()) + 1), float("nan"))
        layers, heads = torch.tensor(df["layer"].tolist()), torch.tensor(df["head"].tolist())
        grid[layers, heads] = torch.tensor(df["score"].tolist()).float()
        return grid

    def heads(self, kind: str | None = None) -> list[tuple[int, int]]:
        """The heads that pass their threshold, as ``(layer, head)``, in model order."""
        df = self.df if kind is None else self.of(kind).df
        chosen = df[df["is_head"]].sort_values(["layer", "head"])
        return list(dict.fromkeys(zip(chosen["layer"].astype(int), chosen["head"].astype(int), strict=True)))

    def top(self, k: int = 10, kind: str | None = None) -> pd.DataFrame:
        """The ``k`` highest-scoring rows (per kind when several kinds are present)."""
        df = self.df if kind is None else self.of(kind).df
        ranked = df.sort_values("score", ascending=False, kind="stable")
        return ranked.groupby("kind", sort=False).head(k).reset_index(drop=True)

    def reject(self, mask: Any, reasons: "str | Sequence[str] | pd.Series") -> None:
        """Mark the rows in ``mask`` as not heads of their kind, recording why in :data:`REJECTED`.

        For a rule besides the score threshold (attention to operands, the model's recall); rows
        already below their threshold keep that as their reason.
        """
        mask = pd.Series(mask, index=self.df.index).astype(bool) & self.df["is_head"]
        if not isinstance(reasons, str):
            reasons = pd.Series(list(reasons), index=self.df.index)[mask]
        if REJECTED not in self.df.columns:
            self.df[REJECTED] = ""
        self.df.loc[mask, REJECTED] = reasons
        self.df.loc[mask, "is_head"] = False

    def why_not(self) -> pd.Series:
        """Per row, why it is not a head of its kind ("" when it is): its score is at or below the
        threshold, or the rule it failed."""
        below = self.df["score"] <= self.df["threshold"]
        reason = pd.Series("", index=self.df.index, dtype=object)
        reason[below] = [f"score <= {t:g}" for t in self.df.loc[below, "threshold"]]
        if REJECTED in self.df.columns:
            rejected = ~self.df["is_head"] & ~below
            reason[rejected] = self.df.loc[rejected, REJECTED].fillna("").astype(str)
        return reason

    def heatmap(
        self, kinds: Sequence[str] | None = None, *, title: str = "Head scores", colorbar: str = "score"
    ):
        """A plotly figure: one layer x head heatmap per kind, titled, its colour bar named ``colorbar``."""
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        kinds = list(kinds or self.kinds)
        fig = make_subplots(rows=1, cols=len(kinds), subplot_titles=kinds)
        for i, kind in enumerate(kinds, start=1):
            grid = self.grid(kind)
            fig.add_trace(
                go.Heatmap(
                    z=grid.numpy(),
                    x=[f"H{h}" for h in range(grid.shape[1])],
                    y=[f"L{layer}" for layer in range(grid.shape[0])],
                    coloraxis="coloraxis",
                    hovertemplate=f"{kind} %{{y}}%{{x}}: %{{z:.3f}}<extra></extra>",
                ),
                row=1,
                col=i,
            )
            fig.update_yaxes(autorange="reversed", row=1, col=i)
        fig.update_layout(coloraxis={"colorscale": "Viridis", "colorbar": {"title": colorbar}}, title=title)
        return fig

    def to_json(self) -> str:
        """The table as JSON records."""
        return json.dumps(json.loads(self.df.to_json(orient="records")))
