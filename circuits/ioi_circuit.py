"""The IOI circuit of a model by every circuit finder side by side, and its name movers.

On a real model nobody knows the circuit, so the finders (activation patching, EAP, EAP-IG, the SAE
finder: :data:`circuits.circuit_finders.FINDERS`) are compared without ground truth: by the
faithfulness of their top heads, by MIB's CPR and CMD over a faithfulness curve, by runtime, and by how
much their top heads overlap. The name movers (:mod:`circuits.name_movers`) say which of those heads
write the answer directly.

Example:
    >>> circuit_sizes(270, 8)
    [0, 1, 2, 5, 11, 25, 55, 121, 270]
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from circuits.circuit_tasks import circuit_task
from circuits.evaluation import ComparisonResult, compare_finders
from circuits.evidence import task_metric
from circuits.name_movers import NameMovers, name_movers
from circuits.tasks import Task
from circuits.tasks.ioi import ioi_task
from interp import HookedModel
from interp.checks import check_count

DEFAULT_FINDERS = ("activation_patching", "eap", "eap_ig", "sae")
"""The finders compared by default."""


def circuit_sizes(total: int, n: int) -> list[int]:
    """About ``n`` circuit sizes from 1 to ``total``, spaced geometrically, plus 0: a faithfulness curve
    over a model of hundreds of heads in a few dozen forward passes instead of one per size."""
    total, n = check_count("total", total), check_count("n", n)
    inner = np.unique(np.round(np.geomspace(1, total, n)).astype(int)).tolist()
    return [0, *inner]


@dataclass(frozen=True)
class IOICircuit:
    """The finders' IOI circuits and the name movers.

    Attributes:
        comparison: :func:`circuits.evaluation.compare_finders` without ground truth (AUC is NaN).
        name_movers: Every head's direct logit attribution and attention to IO and S.
        task: The IOI prompts used.
        top_k: The circuit size whose heads and faithfulness are reported.
    """

    comparison: ComparisonResult
    name_movers: NameMovers
    task: Task
    top_k: int

    def summary(self) -> pd.DataFrame:
        """One row per finder: ``faithfulness`` of its top ``top_k`` heads, ``cpr, cmd, runtime_s``, the
        heads, and ``name_movers`` (how many of the name movers are among them)."""
        movers = set(self.name_movers.df.loc[self.name_movers.df["role"] == "name mover", "label"])
        df = self.comparison.df[
            ["finder", "faithfulness", "cpr", "cmd", "runtime_s", "heads", "error"]
        ].copy()
        df["name_movers"] = [
            len(movers & set(str(h).split(","))) if isinstance(h, str) else 0 for h in df["heads"]
        ]
        return df.reset_index(drop=True)

    def overlap(self) -> pd.DataFrame:
        """Jaccard overlap of the finders' top ``top_k`` heads."""
        return self.comparison.overlap(self.task.name, self.top_k)

    def plot(self):
        """The finders' faithfulness curves over the share of heads kept."""
        import plotly.graph_objects as go

        fig = go.Figure()
        for (_, finder), curve in self.comparison.curves.items():
            fig.add_scatter(x=curve["fraction"], y=curve["faithfulness"], mode="lines+markers", name=finder)
        return fig.update_layout(
            title="IOI: faithfulness of each finder's top heads",
            xaxis_title="share of heads kept (the rest mean-ablated)",
            yaxis_title="faithfulness",
            xaxis_type="log",
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "top_k": self.top_k,
                "n_prompts": len(self.task),
                "summary": json.loads(self.summary().to_json(orient="records")),
                "overlap": json.loads(self.overlap().to_json()),
                "name_movers": json.loads(self.name_movers.df.head(20).to_json(orient="records")),
                "logit_diff": self.name_movers.logit_diff,
            }
        )


def ioi_circuit(
    model: HookedModel,
    *,
    task: Task | None = None,
    n_prompts: int = 32,
    finders: Sequence[str] = DEFAULT_FINDERS,
    top_k: int = 10,
    n_sizes: int = 16,
    seed: int = 0,
) -> IOICircuit:
    """Find the IOI circuit with each finder, compare them, and score the name movers.

    Args:
        task: IOI prompts (default :func:`circuits.tasks.ioi.ioi_task` with ``n_prompts`` and ``seed``).
            The metric is the logit difference ``logit(IO) - logit(S)``.
        finders: Names from :data:`circuits.circuit_finders.FINDERS`.
        top_k: The circuit size whose faithfulness and heads are reported.
        n_sizes: Points of each faithfulness curve (:func:`circuit_sizes`), for CPR and CMD.

    Raises:
        ValueError: Names that are not single tokens, a model that does not prefer IO (no name movers),
            an unknown finder, or a ``top_k`` outside the model's heads.
    """
    task = task if task is not None else ioi_task(model, n_prompts=n_prompts, seed=seed)
    movers = name_movers(model, task)
    found = circuit_task(task, [], metric=task_metric(task), model=model)
    sizes = circuit_sizes(model.n_layers * model.n_heads, n_sizes)
    comparison = compare_finders(model, [found], list(finders), top_k=top_k, sizes=sizes)
    return IOICircuit(comparison=comparison, name_movers=movers, task=task, top_k=top_k)
