"""``PatchingResult``: the result type of patching-style methods.

Activation patching, path patching and attribution patching all score cells
laid out on named axes (``layer``, ``head``, ``pos``, or labelled axes such as
``sender`` and ``receiver``). The result keeps the score grid, the per-prompt
values, the unpatched baselines, a tidy DataFrame, a plotly heatmap and JSON.

Example:
    >>> import torch
    >>> r = PatchingResult(method="demo", site="z", axes=("layer", "head"),
    ...                    scores=torch.tensor([[0.0, 1.0], [2.0, 3.0]]), metric="logit_diff",
    ...                    baseline=0.0, target=4.0)
    >>> r.df[["layer", "head", "score", "normalized"]].values.tolist()[-1]
    [1.0, 1.0, 3.0, 0.75]
    >>> r.top(1)[["layer", "head"]].values.tolist()
    [[1, 1]]
"""

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
from torch import Tensor

INT_AXES = ("layer", "head", "pos", "dest_pos", "src_pos")


@dataclass(frozen=True, kw_only=True)
class PatchingResult:
    """Scores of a patching-style sweep on named axes.

    Attributes:
        method: Which method produced it (``"activation_patching"``, ``"path_patching"``, ``"eap"``...).
        site: What was patched (``"z"``, ``"resid_pre"``, ``"edges"``...).
        axes: Names of the score grid's axes, e.g. ``("layer", "head")``.
        scores: The grid: mean over prompts of the per-prompt metric of each cell.
        per_prompt: The grid with a trailing ``batch`` axis, when kept.
        metric: The metric's name.
        baseline: Mean metric of the unpatched base run (the run patched into).
        target: Mean metric of the run the patched values come from (None for ablations
            and attribution scores).
        direction: ``"denoising"`` (clean into corrupted), ``"noising"`` (corrupted into
            clean), or None.
        labels: Optional names for the entries of non-integer axes (``{"sender": ["L0H1", ...]}``).
        meta: Anything else worth keeping (JSON-serialisable).
    """

    method: str
    site: str
    axes: tuple[str, ...]
    scores: Tensor
    metric: str
    per_prompt: Tensor | None = None
    baseline: float | None = None
    target: float | None = None
    direction: str | None = None
    labels: dict[str, list[str]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.scores.ndim != len(self.axes):
            raise ValueError(f"scores has {self.scores.ndim} axes but axes names {self.axes}")
        for axis, names in self.labels.items():
            if axis not in self.axes or len(names) != self.scores.shape[self.axes.index(axis)]:
                raise ValueError(f"labels for axis {axis!r} do not match the scores' shape")

    def normalized(self) -> Tensor:
        """``(score - baseline) / (target - baseline)``: 0 = no effect, 1 = all the way to the target run.

        When denoising this is the normalised recovery ``(patched - corrupted) / (clean - corrupted)``;
        when noising it is the share of the clean-to-corrupted change the patch causes.
        """
        if self.baseline is None or self.target is None:
            raise ValueError(
                f"{self.method} result has no target run to normalise by (baseline={self.baseline})"
            )
        return (self.scores.double() - self.baseline) / (self.target - self.baseline)

    @property
    def df(self) -> pd.DataFrame:
        """One row per existing cell (NaN dropped): axis values, ``score``, ``normalized`` when defined."""
        values = self.scores.detach().double().cpu()
        grid = list(itertools.product(*[range(s) for s in values.shape]))
        data: dict[str, Any] = {}
        for i, axis in enumerate(self.axes):
            col = [g[i] for g in grid]
            data[axis] = [self.labels[axis][j] for j in col] if axis in self.labels else col
        data["score"] = values.flatten().tolist()
        if self.baseline is not None and self.target is not None:
            data["normalized"] = self.normalized().cpu().flatten().tolist()
        df = pd.DataFrame(data)
        df = df[df["score"].notna()].reset_index(drop=True)  # cells that do not exist (a path backwards)
        df.insert(0, "site", self.site)
        df["metric"] = self.metric
        return df

    def top(self, k: int = 10) -> pd.DataFrame:
        """The ``k`` cells of largest absolute score."""
        df = self.df
        return df.loc[df["score"].abs().sort_values(ascending=False).index[:k]].reset_index(drop=True)

    def _axis_labels(self, axis: str, size: int) -> list[str]:
        if axis in self.labels:
            return list(self.labels[axis])
        prefix = {"layer": "L", "head": "H", "pos": "P"}.get(axis, f"{axis} ")
        return [f"{prefix}{i}" for i in range(size)]

    def plot(self, normalized: bool = False) -> Any:
        """A plotly figure: a bar chart for one axis, a heatmap otherwise (position on the x axis)."""
        import plotly.graph_objects as go

        values = (self.normalized() if normalized else self.scores).detach().double().cpu()
        axes = list(self.axes)
        title = f"{self.method}: {self.site} ({'normalized ' if normalized else ''}{self.metric})"
        if len(axes) == 1:
            labels = self._axis_labels(axes[0], values.shape[0])
            fig = go.Figure(
                go.Bar(x=labels, y=values.tolist(), texttemplate="%{y:.2f}", textposition="outside")
            )
            return fig.update_layout(title=title, xaxis_title=axes[0], yaxis_title="score")
        x_axis = next((a for a in ("pos", "dest_pos", "receiver", "head") if a in axes), axes[-1])
        xi = axes.index(x_axis)
        rest = [a for a in axes if a != x_axis]
        grid = values.movedim(xi, -1).reshape(-1, values.shape[xi])
        row_labels = [
            "".join(parts)
            for parts in itertools.product(*[self._axis_labels(a, values.shape[axes.index(a)]) for a in rest])
        ]
        fig = go.Figure(
            go.Heatmap(
                z=grid.tolist(),
                x=self._axis_labels(x_axis, values.shape[xi]),
                y=row_labels,
                colorscale="RdBu",
                zmid=0.0,
                colorbar={"title": "score"},
            )
        )
        fig.update_yaxes(autorange="reversed")
        return fig.update_layout(title=title, xaxis_title=x_axis, yaxis_title=" x ".join(rest))

    def to_json(self) -> str:
        """Everything as a JSON string (per-prompt values included when kept)."""
        return json.dumps(
            {
                "method": self.method,
                "site": self.site,
                "axes": list(self.axes),
                "scores": self.scores.detach().double().cpu().tolist(),
                "per_prompt": None
                if self.per_prompt is None
                else self.per_prompt.detach().double().cpu().tolist(),
                "metric": self.metric,
                "baseline": self.baseline,
                "target": self.target,
                "direction": self.direction,
                "labels": self.labels,
                "meta": self.meta,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> "PatchingResult":
        """Rebuild a result written by :meth:`to_json`."""
        d = json.loads(text)
        per_prompt = d.pop("per_prompt")
        return cls(
            **{k: v for k, v in d.items() if k not in ("axes", "scores")},
            axes=tuple(d["axes"]),
            scores=torch.tensor(d["scores"], dtype=torch.float64),
            per_prompt=None if per_prompt is None else torch.tensor(per_prompt, dtype=torch.float64),
        )
