"""Which of a kind's heads are needed: mean ablation together, each alone, and random controls.

A head finder names heads that score high; ablation says what removing them does. Removing a kind's
heads together tests the kind; removing each one alone separates the heads the task needs from
backup or redundant heads, whose work other heads take over when they are gone (Wang et al.'s
backup name movers; McGrath et al.'s self-repair). :func:`head_ablations` runs all of it as one
sweep of the batched engine: the set, every head alone, and random sets of the same size drawn
from the heads outside it. Its slow twin is :func:`circuits.ablation.ablation_study` (hooks),
which gives the same numbers set by set.

Roles (column ``role``):

- the set's row: ``beats random`` when ablating the set lowers the metric below every random draw,
  ``within random`` when it does not, ``no control`` when no random set could be drawn;
- each head's row: ``needed alone`` when ablating it alone lowers the metric by at least
  :data:`NEEDED_DROP` of the baseline and by more than :data:`N_SE` standard errors of the paired
  per-prompt drop (``drop_se``: a few prompts flipping is not read as a need); otherwise
  ``backup or redundant`` when the set beats random (the head scores high, is part of a set that
  matters, and is not needed alone), else ``not needed``.

The metric is higher-is-better (a task's accuracy, by default).

Example:
    >>> from interp.testing import tiny_model
    >>> from circuits.tasks import induction_task
    >>> model = tiny_model("gpt2")
    >>> result = head_ablations(model, [(1, 0), (1, 1)], induction_task(model, n_prompts=4), n_random=2)
    >>> result.df["heads"].tolist()
    ['L1H0,L1H1', 'L1H0', 'L1H1']
"""

from collections.abc import Sequence

import pandas as pd
import torch

from circuits.ablation import AblationResult, check_heads, random_head_sets
from circuits.heads.scores import head_name
from circuits.tasks import Task
from interp import HookedModel
from interp.checks import check_count
from interp.engine import Metric, Patch, accuracy, engine_for

NEEDED_DROP = 0.1
"""A head is needed alone when ablating it alone lowers the metric by this share of the baseline."""

N_SE = 2.0
"""A single head's drop must exceed this many standard errors of its per-prompt drops."""

ROLES = ("beats random", "within random", "no control", "needed alone", "backup or redundant", "not needed")
"""Every value of the ``role`` column."""


def task_accuracy(task: Task) -> Metric:
    """The task's accuracy as an engine metric: the answer is the top logit at each prompt's position."""
    return accuracy(task.answer_tokens, task.positions[:, None])


def head_ablations(
    model: HookedModel,
    heads: Sequence[tuple[int, int]],
    task: Task,
    *,
    metric: Metric | None = None,
    n_random: int = 5,
    seed: int = 0,
    backend: str = "auto",
) -> AblationResult:
    """Mean-ablate ``heads`` together, each alone, and ``n_random`` random sets of the same size.

    Each head's output (``hook_z``) is replaced by its mean over the task's clean prompts at each
    position, as :func:`circuits.ablation.ablation_study` does in ``mean`` mode.

    Args:
        heads: The heads, as ``(layer, head)``.
        task: Its clean prompts are run; its accuracy is the default metric.
        metric: A higher-is-better engine metric (default :func:`task_accuracy`).
        n_random: Random sets for the control (0 for none).
        seed: Seeds the random sets.
        backend: The engine (:func:`interp.engine.engine_for`).

    Returns:
        One row for the set (with the random control), then one per head alone, each with
        ``baseline``, ``ablated``, ``effect`` (ablated - baseline) and ``role`` (module docstring).

    Raises:
        ValueError: No heads, a head the model lacks, or more random heads asked for than the heads
            outside the set.
    """
    heads = check_heads(model, heads)
    if not heads:
        raise ValueError("no heads to ablate; expected at least one (layer, head)")
    n_random = check_count("n_random", n_random, minimum=0)
    metric = metric if metric is not None else task_accuracy(task)
    randoms = random_head_sets(model, len(heads), heads, n_random, seed)
    engine = engine_for(model, backend=backend)
    with torch.no_grad():
        trace = engine.trace(task.clean_tokens)

        def mean_out(layer: int, head: int) -> Patch:
            z = trace.act(layer, "z")[:, :, head]
            return Patch(layer=layer, site="z", value=z.mean(0, keepdim=True), head=head)

        sets = [heads, *([h] for h in heads), *randoms]
        cells = [[], *([mean_out(layer, head) for layer, head in s] for s in sets)]
        per_prompt = engine.run(trace, cells, metric).double().cpu()
    values = per_prompt.mean(-1).tolist()
    baseline, together = values[0], values[1]
    alone, drawn = values[2 : 2 + len(heads)], values[2 + len(heads) :]
    drops = per_prompt[:1] - per_prompt[2 : 2 + len(heads)]  # [head, batch]
    n = drops.shape[1]
    drop_se = (drops.std(-1) / n**0.5 if n > 1 else torch.full((len(heads),), float("inf"))).tolist()
    if drawn:
        set_role = "beats random" if together < min(drawn) else "within random"
    else:
        set_role = "no control"
    random_mean = float(torch.tensor(drawn).mean()) if drawn else float("nan")
    random_std = float(torch.tensor(drawn).std(unbiased=False)) if drawn else float("nan")
    label = ",".join(head_name(layer, head) for layer, head in heads)
    rows = [_row(label, len(heads), baseline, together, random_mean, random_std, len(drawn), set_role)]
    rows[0]["drop_se"] = float("nan")
    for (layer, head), value, se in zip(heads, alone, drop_se, strict=True):
        drop = baseline - value
        if drop > 0 and drop >= NEEDED_DROP * abs(baseline) and drop > N_SE * se:
            role = "needed alone"
        else:
            role = "backup or redundant" if set_role == "beats random" else "not needed"
        row = _row(head_name(layer, head), 1, baseline, value, float("nan"), float("nan"), 0, role)
        rows.append(row | {"drop_se": se})
    df = pd.DataFrame(rows)
    df["metric"] = metric.name
    return AblationResult(df, {label: drawn})


def _row(label, n_heads, baseline, ablated, random_mean, random_std, n_random, role) -> dict:
    return {
        "heads": label,
        "n_heads": n_heads,
        "mode": "mean",
        "baseline": baseline,
        "ablated": ablated,
        "random_mean": random_mean,
        "random_std": random_std,
        "n_random": n_random,
        "effect": ablated - baseline,
        "random_effect": random_mean - baseline,
        "role": role,
    }
