"""Attention sinks, and ACT: the attention calibration technique (Yu et al. 2024, "Unveiling and
Harnessing Hidden Attention Sinks", authors' code GATECH-EIC/ACT).

A **sink** of a head on a prompt is a key position that receives far more attention than a fair
share: its sink score, the mean attention it receives from the queries that can see it (itself and
every later position), exceeds :data:`SINK_THRESHOLD`. The first token is the sink every model has;
the paper's finding is that later tokens (punctuation, newlines, frequent words) become sinks too,
and that not all of them help.

**ACT** calibrates the attention of selected heads on the fly, without changing a weight: in each
query row, the attention to every sink but the first token is scaled by ``beta`` and the mass removed
is given to the row's other keys in proportion to their attention (the first token included), so
each row still sums to 1. Sinks are found from the prompt's own pattern, input by input. Which heads
to calibrate is chosen offline (:func:`select_act_heads`): each candidate head is calibrated alone on
calibration prompts and kept when that raises the task's metric. :func:`act_study` then measures
accuracy on held-out prompts with the selected heads calibrated, against calibrating as many random
heads.

Example:
    >>> import torch
    >>> pattern = torch.tensor([[[[1.0, 0, 0], [0.5, 0.5, 0], [0.2, 0.6, 0.2]]]])
    >>> sink_scores(pattern)[0, 0]  # key 1: (0.5 + 0.6) / 2
    tensor([0.5667, 0.5500, 0.2000])
    >>> calibrate_pattern(pattern, [0], threshold=0.3, beta=0.5)[0, 0, 2]
    tensor([0.3500, 0.3000, 0.3500])
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from circuits.ablation import check_heads, evaluate
from circuits.evidence import task_metric
from circuits.heads.scores import head_name
from circuits.tasks import Task
from interp import HookedModel
from interp.checks import check_count
from interp.engine.patches import hook_name

SINK_THRESHOLD = 0.1
"""A key is a sink when the mean attention it receives from the queries that see it exceeds this (the
authors' released setting)."""

ACT_BETA = 0.4
"""ACT keeps this share of the attention to a calibrated sink (the authors' released setting)."""


def sink_scores(pattern: Float[Tensor, "batch head q k"]) -> Float[Tensor, "batch head k"]:
    """Each key's mean attention from the queries that can see it (causal: itself and later queries).

    With fewer queries than keys (a prefix cached), query ``i`` sits at key position ``k - q + i``.
    """
    n_q, n_k = pattern.shape[-2:]
    if n_q > n_k:
        raise ValueError(f"a pattern has at most as many queries as keys; got {n_q} queries, {n_k} keys")
    query_pos = torch.arange(n_k - n_q, n_k, device=pattern.device)
    visible = torch.arange(n_k, device=pattern.device)[None, :] <= query_pos[:, None]
    return pattern.sum(-2) / visible.sum(0).clamp(min=1).to(pattern.dtype)


def calibrate_pattern(
    pattern: Float[Tensor, "batch head q k"],
    heads: Sequence[int],
    *,
    threshold: float = SINK_THRESHOLD,
    beta: float = ACT_BETA,
) -> Float[Tensor, "batch head q k"]:
    """ACT on the heads ``heads`` (indices into the head axis) of one layer's pattern; others unchanged.

    A row whose whole attention sits on calibrated sinks keeps it (there is nothing to give it to).
    """
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta is the share of a sink's attention kept; expected 0 <= beta <= 1, got {beta}")
    out = pattern.clone()
    if not heads:
        return out
    idx = torch.as_tensor(list(heads), device=pattern.device)
    p = pattern[:, idx]
    sinks = sink_scores(p) > threshold
    sinks[..., 0] = False  # the first token is never calibrated
    sink_cols = sinks[..., None, :].to(p.dtype)
    on_sinks = (p * sink_cols).sum(-1, keepdim=True)
    rest = p * (1 - sink_cols)
    rest_mass = rest.sum(-1, keepdim=True)
    share = torch.where(rest_mass > 0, rest / rest_mass.clamp(min=torch.finfo(p.dtype).tiny), 0.0)
    calibrated = p * (1 - (1 - beta) * sink_cols) + (1 - beta) * on_sinks * share
    out[:, idx] = torch.where(rest_mass > 0, calibrated, p)
    return out


def act_hooks(
    model: HookedModel,
    heads: Sequence[tuple[int, int]],
    *,
    threshold: float = SINK_THRESHOLD,
    beta: float = ACT_BETA,
) -> list[tuple[str, object]]:
    """Forward hooks on ``hook_pattern`` that apply ACT to ``heads`` (``(layer, head)`` pairs)."""
    by_layer: dict[int, list[int]] = {}
    for layer, head in check_heads(model, heads):
        by_layer.setdefault(layer, []).append(head)

    def hook_for(layer_heads: list[int]):
        def hook(pattern: Tensor, hook) -> Tensor:
            return calibrate_pattern(pattern, layer_heads, threshold=threshold, beta=beta)

        return hook

    return [(hook_name(layer, "pattern"), hook_for(hs)) for layer, hs in sorted(by_layer.items())]


@dataclass(frozen=True)
class AttentionSinks:
    """The sinks of every head on some prompts.

    Attributes:
        df: One row per (prompt, layer, head, sink): ``prompt, layer, head, label, pos, token, score``
            and ``first`` (the first token).
        scores: ``[layer, head, prompt, key]`` sink scores.
        threshold: The sink threshold used.
    """

    df: pd.DataFrame
    scores: Float[Tensor, "layer head batch k"]
    threshold: float

    def summary(self) -> pd.DataFrame:
        """One row per head: ``first_score`` (mean sink score of the first token), ``later_sinks`` (mean
        number of sinks after the first token per prompt) and ``later_score`` (their mean score, 0 when
        none)."""
        n_layers, n_heads, n_prompts = self.scores.shape[:3]
        later = self.df[~self.df["first"]]
        counts = later.groupby(["layer", "head"]).size()
        means = later.groupby(["layer", "head"])["score"].mean()
        rows = []
        for layer in range(n_layers):
            for head in range(n_heads):
                rows.append(
                    {
                        "layer": layer,
                        "head": head,
                        "label": head_name(layer, head),
                        "first_score": float(self.scores[layer, head, :, 0].mean()),
                        "later_sinks": float(counts.get((layer, head), 0)) / n_prompts,
                        "later_score": float(means.get((layer, head), 0.0)),
                    }
                )
        return pd.DataFrame(rows)

    def plot(self):
        """Heatmap: sinks after the first token per prompt, per layer and head."""
        import plotly.express as px

        s = self.summary()
        grid = s.pivot(index="layer", columns="head", values="later_sinks")
        return px.imshow(
            grid,
            labels={"x": "head", "y": "layer", "color": "later sinks / prompt"},
            title=f"Attention sinks after the first token (sink score > {self.threshold})",
            aspect="auto",
        )

    def to_json(self) -> str:
        return json.dumps(
            {"threshold": self.threshold, "summary": json.loads(self.summary().to_json(orient="records"))}
        )


def find_sinks(
    model: HookedModel, tokens: Int[Tensor, "batch pos"], *, threshold: float = SINK_THRESHOLD
) -> AttentionSinks:
    """Every head's sinks on ``tokens``: key positions whose sink score exceeds ``threshold``."""
    tokens = model.check_tokens(tokens)
    names = [hook_name(layer, "pattern") for layer in range(model.n_layers)]
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=names)
    scores = torch.stack([sink_scores(cache[n].float()).transpose(0, 1) for n in names]).cpu()
    strs = [model.to_str_tokens(row) for row in tokens]
    layer, head, prompt, pos = torch.nonzero(scores > threshold, as_tuple=True)
    df = pd.DataFrame(
        {
            "prompt": prompt.numpy(),
            "layer": layer.numpy(),
            "head": head.numpy(),
            "label": [head_name(int(a), int(b)) for a, b in zip(layer, head, strict=True)],
            "pos": pos.numpy(),
            "token": [strs[int(b)][int(p)] for b, p in zip(prompt, pos, strict=True)],
            "score": scores[layer, head, prompt, pos].numpy(),
            "first": (pos == 0).numpy(),
        }
    )
    return AttentionSinks(df=df, scores=scores, threshold=threshold)


def select_act_heads(
    model: HookedModel,
    task: Task,
    *,
    candidates: Sequence[tuple[int, int]] | None = None,
    threshold: float = SINK_THRESHOLD,
    beta: float = ACT_BETA,
    min_gain: float = 0.0,
    progress: bool = True,
) -> pd.DataFrame:
    """ACT's offline head filter: calibrate each candidate head alone on ``task`` (calibration prompts).

    Returns one row per candidate: ``layer, head, label, baseline, calibrated`` (the task's mean logit
    difference), ``gain`` and ``selected`` (``gain > min_gain``), largest gain first.
    """
    if candidates is None:
        candidates = [(la, h) for la in range(model.n_layers) for h in range(model.n_heads)]
    candidates = check_heads(model, candidates)
    if not candidates:
        raise ValueError("no candidate heads; expected at least one (layer, head)")
    metric = task_metric(task)
    base = float(evaluate(model, task.clean_tokens, metric).mean())
    rows = []
    for layer, head in tqdm(candidates, desc="ACT head filter", disable=not progress):
        hooks = act_hooks(model, [(layer, head)], threshold=threshold, beta=beta)
        value = float(evaluate(model, task.clean_tokens, metric, hooks).mean())
        rows.append({"layer": layer, "head": head, "label": head_name(layer, head), "calibrated": value})
    df = pd.DataFrame(rows)
    df.insert(3, "baseline", base)
    df["gain"] = df["calibrated"] - base
    df["selected"] = df["gain"] > min_gain
    return df.sort_values("gain", ascending=False, kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class ACTResult:
    """Held-out accuracy and logit difference without ACT, with ACT on the selected heads, and with ACT
    on random heads of the same number (one row each, ``condition``)."""

    df: pd.DataFrame
    heads: list[tuple[int, int]]
    selection: pd.DataFrame

    @property
    def gain(self) -> float:
        """Accuracy with ACT on the selected heads minus without."""
        d = self.df.set_index("condition")["accuracy"]
        return float(d["act"] - d["none"])

    def to_json(self) -> str:
        return json.dumps(
            {
                "heads": [head_name(*h) for h in self.heads],
                "conditions": json.loads(self.df.to_json(orient="records")),
            }
        )


def act_study(
    model: HookedModel,
    calibration: Task,
    heldout: Task,
    *,
    n_heads: int | None = None,
    candidates: Sequence[tuple[int, int]] | None = None,
    selection: pd.DataFrame | None = None,
    threshold: float = SINK_THRESHOLD,
    beta: float = ACT_BETA,
    n_random: int = 3,
    seed: int = 0,
    progress: bool = True,
) -> ACTResult:
    """Select heads on ``calibration``, then score ACT on ``heldout`` against random heads.

    Args:
        n_heads: Keep at most this many of the heads whose calibration helped (default: all of them).
        selection: A head filter already run (:func:`select_act_heads` on ``calibration``), to try
            several ``n_heads`` without running it again; ``candidates`` is then ignored.
        n_random: Random head sets of the same size, each calibrated the same way.

    Raises:
        ValueError: Tasks of different families, or no head whose calibration helps.
    """
    if calibration.name != heldout.name:
        raise ValueError(
            f"calibration and held-out prompts must be one task; got {calibration.name!r} "
            f"and {heldout.name!r}"
        )
    n_random = check_count("n_random", n_random, minimum=0)
    if selection is None:
        selection = select_act_heads(
            model, calibration, candidates=candidates, threshold=threshold, beta=beta, progress=progress
        )
    elif not {"layer", "head", "gain", "selected"} <= set(selection.columns):
        raise ValueError(
            f"selection must be select_act_heads' table (layer, head, gain, selected); "
            f"got columns {list(selection.columns)}"
        )
    chosen = selection[selection["selected"]]
    if n_heads is not None:
        chosen = chosen.head(check_count("n_heads", n_heads))
    heads = [(int(r.layer), int(r.head)) for r in chosen.itertuples()]
    if not heads:
        raise ValueError(
            f"calibrating no single head raises the {calibration.name} metric on the calibration prompts; "
            "ACT has nothing to apply"
        )
    metric = task_metric(heldout)
    rng = np.random.default_rng(seed)
    everyone = [(la, h) for la in range(model.n_layers) for h in range(model.n_heads)]
    others = [h for h in everyone if h not in set(heads)]
    conditions = [("none", []), ("act", heads)]
    for k in range(n_random if len(others) >= len(heads) else 0):
        pick = rng.choice(len(others), size=len(heads), replace=False)
        conditions.append((f"random {k}", [others[i] for i in pick]))
    rows = []
    for name, hs in conditions:
        hooks = act_hooks(model, hs, threshold=threshold, beta=beta) if hs else []
        with torch.no_grad():
            logits = (
                model.run_with_hooks(heldout.clean_tokens, fwd_hooks=hooks)
                if hooks
                else model.run(heldout.clean_tokens)
            )
        rows.append(
            {
                "condition": name,
                "heads": ",".join(head_name(*h) for h in hs),
                "accuracy": float(heldout.accuracy(logits).mean()),
                "logit_diff": float(metric(logits).mean()),
            }
        )
    return ACTResult(df=pd.DataFrame(rows), heads=heads, selection=selection)
