"""Ablate a set of attention heads and measure a task metric, against random-head controls.

Modes (:data:`AblationMode`):

- ``zero``: the head's output (``hook_z``) is set to zero;
- ``mean``: replaced by its mean over a reference batch (per position when the
  reference prompts have the prompts' length, else over all positions);
- ``resample``: replaced by its value on a randomly drawn reference prompt;
- ``masking``: Wu et al.'s masking, pre-softmax scores set to zero, i.e. the
  head attends uniformly to every position it can see.

Every study also ablates random head sets of the same size, drawn several
times from the heads outside the set, and reports their mean and standard
deviation: an effect means something only when it beats that control.

Example:
    >>> from interp.testing import tiny_model
    >>> model = tiny_model("gpt2")
    >>> tokens = torch.randint(4, 64, (4, 8))
    >>> metric = lambda logits: logits[:, -1, 5] - logits[:, -1, 6]
    >>> result = ablation_study(model, [(1, 0)], tokens, metric, mode="zero", n_random=2)
    >>> list(result.df.columns[:4])
    ['heads', 'n_heads', 'mode', 'baseline']
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import pandas as pd
import torch
from jaxtyping import Float, Int
from torch import Tensor

from circuits.heads.scores import head_name
from interp import HookedModel
from interp.checks import check_count
from interp.engine import MetricFn
from interp.engine.patches import hook_name

AblationMode = Literal["zero", "mean", "resample", "masking"]
"""How a head is removed: ``zero``, ``mean`` or ``resample``d output, or ``masking`` (uniform attention)."""

ABLATION_MODES: tuple[AblationMode, ...] = ("zero", "mean", "resample", "masking")


def check_heads(model: HookedModel, heads: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Validate ``(layer, head)`` pairs, naming any out of range."""
    checked = []
    for pair in heads:
        if len(pair) != 2:
            raise ValueError(f"a head is (layer, head); got {pair!r}")
        checked.append(model.check_head(int(pair[0]), int(pair[1])))
    return checked


def evaluate(
    model: HookedModel, tokens: Tensor, metric: MetricFn, fwd_hooks: Sequence = ()
) -> Float[Tensor, " batch"]:
    """Run the model (with hooks) and apply ``metric``, checking it gives one value per prompt."""
    with torch.no_grad():
        logits = model.run_with_hooks(tokens, fwd_hooks=list(fwd_hooks)) if fwd_hooks else model.run(tokens)
        values = metric(logits)
    if not isinstance(values, Tensor) or values.shape != (tokens.shape[0],):
        shape = tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__
        raise ValueError(
            f"the metric must return one value per prompt, shape ({tokens.shape[0]},); got {shape}"
        )
    return values.float()


def ablation_hooks(
    model: HookedModel,
    heads: Sequence[tuple[int, int]],
    mode: AblationMode,
    tokens: Int[Tensor, "batch pos"],
    reference_tokens: Int[Tensor, "ref ref_pos"] | None = None,
    seed: int = 0,
) -> list[tuple[str, Callable]]:
    """Forward hooks that ablate ``heads`` on a run over ``tokens``."""
    if mode not in ABLATION_MODES:
        raise ValueError(f"unknown ablation mode {mode!r}; expected one of {ABLATION_MODES}")
    heads = check_heads(model, heads)
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        by_layer.setdefault(layer, []).append(head)
    if mode == "masking":
        return [(hook_name(layer, "pattern"), _uniform_attention(hs)) for layer, hs in by_layer.items()]
    names = [hook_name(layer, "z") for layer in by_layer]
    replacement: dict[str, Tensor] = {}
    if mode in ("mean", "resample"):
        reference = model.check_tokens(reference_tokens if reference_tokens is not None else tokens)
        with torch.no_grad():
            _, cache = model.run_with_cache(reference, names_filter=names)
        for name in names:
            z = cache[name]  # [ref pos head d_head]
            if mode == "mean":
                same_length = z.shape[1] == tokens.shape[1]
                replacement[name] = z.mean(0, keepdim=True) if same_length else z.mean((0, 1), keepdim=True)
            else:
                if z.shape[1] != tokens.shape[1]:
                    raise ValueError(
                        "resample ablation needs reference prompts of the prompts' length "
                        f"{tokens.shape[1]}; got {z.shape[1]}"
                    )
                g = torch.Generator().manual_seed(seed)
                replacement[name] = z[torch.randint(0, z.shape[0], (tokens.shape[0],), generator=g)]

    def make_hook(name: str, hs: list[int]) -> Callable:
        def hook(z: Tensor, hook) -> Tensor:
            z = z.clone()
            if mode == "zero":
                z[:, :, hs] = 0.0
            else:
                z[:, :, hs] = replacement[name][:, :, hs].to(z.dtype).expand(z.shape[0], z.shape[1], -1, -1)
            return z

        return hook

    return [(hook_name(layer, "z"), make_hook(hook_name(layer, "z"), hs)) for layer, hs in by_layer.items()]


def _uniform_attention(heads: list[int]) -> Callable:
    def hook(pattern: Tensor, hook) -> Tensor:
        pattern = pattern.clone()
        n_q, n_k = pattern.shape[-2:]
        visible = torch.ones(n_q, n_k, device=pattern.device).tril(n_k - n_q)
        pattern[:, heads] = (visible / visible.sum(-1, keepdim=True)).to(pattern.dtype)
        return pattern

    return hook


def random_head_sets(
    model: HookedModel, size: int, exclude: Sequence[tuple[int, int]], n_sets: int, seed: int = 0
) -> list[list[tuple[int, int]]]:
    """``n_sets`` random sets of ``size`` heads drawn from the heads not in ``exclude``."""
    excluded = set(map(tuple, exclude))
    every = [(layer, head) for layer in range(model.n_layers) for head in range(model.n_heads)]
    pool = [pair for pair in every if pair not in excluded]
    if n_sets == 0:  # no control asked for: nothing to draw, whatever the pool
        return []
    if size > len(pool):
        raise ValueError(f"cannot draw {size} random heads from the {len(pool)} heads outside the set")
    g = torch.Generator().manual_seed(seed)
    return [
        sorted(pool[i] for i in torch.randperm(len(pool), generator=g)[:size].tolist()) for _ in range(n_sets)
    ]


@dataclass(frozen=True)
class AblationResult:
    """An ablation and its random-head controls.

    Attributes:
        df: One row per ablated set: ``heads`` (``L1H2,L3H0``), ``n_heads``,
            ``mode``, ``baseline`` (unablated mean metric), ``ablated`` (mean
            metric with the set removed), ``random_mean`` and ``random_std``
            (the same for random sets of the same size), ``n_random``,
            ``effect`` = ablated − baseline, ``random_effect`` = random_mean − baseline.
        random_values: The mean metric under each random set.
    """

    df: pd.DataFrame
    random_values: dict[str, list[float]]

    def plot(self):
        """Bars with their values: baseline, ablated, and the random control, whose error bar spans
        the random draws from lowest to highest (so it stays within the metric's range)."""
        import plotly.graph_objects as go

        fig = go.Figure()
        labels = self.df["heads"].tolist()
        label_style = {"texttemplate": "%{y:.2f}", "textposition": "outside", "cliponaxis": False}
        fig.add_bar(name="baseline", x=labels, y=self.df["baseline"], **label_style)
        fig.add_bar(name="ablated", x=labels, y=self.df["ablated"], **label_style)
        values = [self.random_values.get(label, []) for label in labels]
        if any(values):
            means = self.df["random_mean"].tolist()
            fig.add_bar(
                name="random heads (mean; bar: lowest to highest draw)",
                x=labels,
                y=means,
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [max(v) - m if v else 0 for v, m in zip(values, means, strict=True)],
                    "arrayminus": [m - min(v) if v else 0 for v, m in zip(values, means, strict=True)],
                },
                **label_style,
            )
        metric = str(self.df["metric"].iloc[0]) if "metric" in self.df.columns else "metric"
        shown = [*self.df["baseline"], *self.df["ablated"], *(x for v in values for x in v)]
        layout = {"yaxis_title": metric.replace("_", " ")}
        if shown and 0 <= min(shown) and max(shown) <= 1:  # a share or accuracy: the axis stops at 1
            layout["yaxis_range"] = [0, 1.12]
        fig.update_layout(
            barmode="group", title=f"Head ablation ({self.df['mode'].iloc[0]}), {metric}", **layout
        )
        return fig

    def to_json(self) -> str:
        return json.dumps(
            {"rows": json.loads(self.df.to_json(orient="records")), "random": self.random_values}
        )


def ablation_study(
    model: HookedModel,
    heads: Sequence[tuple[int, int]],
    tokens: Int[Tensor, "batch pos"],
    metric: MetricFn,
    *,
    mode: AblationMode = "mean",
    reference_tokens: Int[Tensor, "ref ref_pos"] | None = None,
    n_random: int = 5,
    seed: int = 0,
) -> AblationResult:
    """Ablate ``heads`` together and compare with ``n_random`` random sets of the same size.

    Args:
        heads: The heads to remove, as ``(layer, head)``.
        tokens: The prompts the metric is measured on.
        metric: Logits -> one value per prompt (e.g. a task's accuracy or logit difference).
        mode: How heads are removed (see :data:`AblationMode`).
        reference_tokens: The reference distribution for ``mean`` and ``resample`` (default: ``tokens``).
        n_random: How many random head sets to draw for the control.
        seed: Seeds the random sets and resampling.
    """
    heads = check_heads(model, heads)
    if not heads:
        raise ValueError("no heads to ablate; expected at least one (layer, head)")
    if mode not in get_args(AblationMode):
        raise ValueError(f"unknown ablation mode {mode!r}; expected one of {list(get_args(AblationMode))}")
    n_random = check_count("n_random", n_random, minimum=0)
    tokens = model.check_tokens(tokens)
    baseline = evaluate(model, tokens, metric).mean().item()

    def ablated_mean(head_set: Sequence[tuple[int, int]]) -> float:
        hooks = ablation_hooks(model, head_set, mode, tokens, reference_tokens, seed)
        return evaluate(model, tokens, metric, hooks).mean().item()

    label = ",".join(head_name(layer, head) for layer, head in heads)
    randoms = [ablated_mean(s) for s in random_head_sets(model, len(heads), heads, n_random, seed)]
    random_tensor = torch.tensor(randoms) if randoms else torch.tensor([float("nan")])
    ablated = ablated_mean(heads)
    row = {
        "heads": label,
        "n_heads": len(heads),
        "mode": mode,
        "baseline": baseline,
        "ablated": ablated,
        "random_mean": random_tensor.mean().item(),
        "random_std": random_tensor.std(unbiased=False).item() if randoms else float("nan"),
        "n_random": len(randoms),
        "effect": ablated - baseline,
        "random_effect": random_tensor.mean().item() - baseline,
        "metric": getattr(metric, "__name__", type(metric).__name__),
    }
    return AblationResult(pd.DataFrame([row]), {label: randoms})
