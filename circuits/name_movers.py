"""Name mover heads of indirect object identification (Wang et al. 2022), by direct logit attribution.

A name mover head, at the final position of an IOI prompt ("When Mary and John went to the store,
John gave a drink to"), attends to the indirect object (" Mary") and copies it: its direct write
raises the logit difference ``logit(IO) - logit(S)``. A negative name mover attends to the indirect
object too but writes against it. :func:`name_movers` scores every head by both measurements:

- ``dla``: the head's mean direct logit attribution to the logit difference
  (:func:`circuits.logit_attribution.task_logit_attribution`, exact through the final norm's scale);
- ``attn_io`` and ``attn_s``: its mean attention from the final position to the indirect object's
  position, and to the subject's positions (both mentions summed), found per prompt from the tokens.

Roles (column ``role``): ``name mover`` when ``dla`` is at least :data:`MIN_DLA_SHARE` of the clean
logit difference and the head attends more to IO than to S; ``negative name mover`` when ``dla`` is at
most minus that share and it attends more to IO than to S; otherwise ``other``. The thresholds are the
toolkit's, not the paper's: the paper found its name movers by path patching to the logits, which the
DLA of a head's own write approximates (the write is that path).

Example:
    >>> MIN_DLA_SHARE
    0.05
"""

import json
from dataclasses import dataclass

import pandas as pd
import torch
from torch import Tensor

from circuits.heads.scores import head_name
from circuits.logit_attribution import task_logit_attribution
from circuits.tasks import Task
from interp import HookedModel
from interp.engine.patches import hook_name

MIN_DLA_SHARE = 0.05
"""A name mover's mean direct write is at least this share of the mean clean logit difference."""

ROLES = ("name mover", "negative name mover", "other")
"""Every value of the ``role`` column."""


@dataclass(frozen=True)
class NameMovers:
    """Per head: direct logit attribution to ``logit(IO) - logit(S)`` and attention to IO and S.

    Attributes:
        df: One row per head, by decreasing ``dla``: ``layer, head, label, dla, dla_share`` (of the
            clean logit difference), ``attn_io, attn_s, role``.
        logit_diff: The mean clean logit difference.
    """

    df: pd.DataFrame
    logit_diff: float

    def heads(self, role: str = "name mover") -> list[tuple[int, int]]:
        """The heads of one role, by decreasing ``|dla|``."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")
        rows = self.df[self.df["role"] == role]
        rows = rows.reindex(rows["dla"].abs().sort_values(ascending=False).index)
        return [(int(r.layer), int(r.head)) for r in rows.itertuples()]

    def plot(self, k: int = 20):
        """Direct logit attribution against attention to the indirect object, for the top ``k`` heads by
        ``|dla|``; colour is the role."""
        import plotly.express as px

        top = self.df.reindex(self.df["dla"].abs().sort_values(ascending=False).index).head(k)
        fig = px.scatter(
            top, x="attn_io", y="dla", color="role", text="label", hover_data=["attn_s", "dla_share"]
        )
        fig.update_traces(textposition="top center")
        return fig.update_layout(
            title=f"Name movers: direct write to logit(IO) - logit(S) (clean {self.logit_diff:.2f})",
            xaxis_title="attention from the end to IO",
            yaxis_title="direct logit attribution",
        )

    def to_json(self) -> str:
        return json.dumps(
            {"logit_diff": self.logit_diff, "rows": json.loads(self.df.to_json(orient="records"))}
        )


def _mention_masks(task: Task) -> tuple[Tensor, Tensor]:
    """Per prompt and position: is it the indirect object, is it the subject (positions before the
    metric position only)."""
    tokens = task.clean_tokens
    before = torch.arange(tokens.shape[1])[None] < task.positions[:, None]
    io = (tokens == task.answer_tokens[:, None]) & before
    s = (tokens == task.wrong_tokens[:, None]) & before
    missing = (~io.any(1)) | (~s.any(1))
    if bool(missing.any()):
        i = int(missing.nonzero()[0, 0])
        raise ValueError(
            f"prompt {i} does not contain both its answer (IO) and its wrong answer (S) before the "
            "metric position; expected an IOI task whose answer and wrong answer are names in the prompt"
        )
    return io, s


def name_movers(model: HookedModel, task: Task, *, min_share: float = MIN_DLA_SHARE) -> NameMovers:
    """Score every head as a name mover on an IOI task (see the module docstring).

    Args:
        model: The model.
        task: An IOI task (:func:`circuits.tasks.ioi.ioi_task`): answer = IO, wrong answer = S.
        min_share: The least ``|dla|`` as a share of the clean logit difference for a (negative) name
            mover.

    Raises:
        ValueError: A prompt without both names, a ``min_share`` outside (0, 1], or a clean logit
            difference that is not positive (the model does not do the task; nothing to attribute).
    """
    if not 0 < float(min_share) <= 1:
        raise ValueError(f"min_share={min_share!r}; expected a share in (0, 1]")
    io, s = _mention_masks(task)
    dla = task_logit_attribution(model, task, "head")
    ld = float(dla.total.mean())
    if ld <= 0:
        raise ValueError(
            f"the mean clean logit difference is {ld:.3f}; the model does not prefer IO over S, so it has "
            "no name movers to find on this task"
        )
    grid = dla.head_grid()
    names = [hook_name(layer, "pattern") for layer in range(model.n_layers)]
    with torch.no_grad():
        _, cache = model.run_with_cache(task.clean_tokens, names_filter=names)
    rows_idx = torch.arange(len(task))
    rows = []
    for layer in range(model.n_layers):
        at_end = cache[names[layer]][rows_idx, :, task.positions].double()  # [batch head key]
        attn_io = (at_end * io[:, None]).sum(-1).mean(0)
        attn_s = (at_end * s[:, None]).sum(-1).mean(0)
        for head in range(model.n_heads):
            value = float(grid[layer, head])
            rows.append(
                {
                    "layer": layer,
                    "head": head,
                    "label": head_name(layer, head),
                    "dla": value,
                    "dla_share": value / ld,
                    "attn_io": float(attn_io[head]),
                    "attn_s": float(attn_s[head]),
                }
            )
    df = pd.DataFrame(rows)
    to_io = df["attn_io"] > df["attn_s"]
    df["role"] = "other"
    df.loc[to_io & (df["dla_share"] >= min_share), "role"] = "name mover"
    df.loc[to_io & (df["dla_share"] <= -min_share), "role"] = "negative name mover"
    df = df.sort_values("dla", ascending=False, kind="stable").reset_index(drop=True)
    return NameMovers(df=df, logit_diff=ld)
