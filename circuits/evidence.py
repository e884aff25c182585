"""Causal evidence for head kinds and tasks: the analysis ``interp heads`` and ``interp discover`` run.

- :func:`ablation_evidence`: each kind's heads mean-ablated together on the kind's task, against
  random head sets of the same number (none when the heads outnumber the rest of the model), and
  each head alone, marking the heads needed alone and the backup or redundant ones
  (:func:`circuits.head_ablations.head_ablations`);
- :func:`patching_circuits`: per-head activation patching on each task whose kinds have heads, and
  the circuit it finds;
- :func:`discover_scores`: per-head importance for a task by any circuit finder.

Python users get the same evidence the command line prints and reports.
"""

from typing import Any

import torch

from circuits.ablation import AblationResult
from circuits.circuit_finders import FINDERS
from circuits.circuit_tasks import circuit_task
from circuits.head_ablations import head_ablations
from circuits.heads import HEAD_KINDS, HeadScores
from circuits.heads.arithmetic_forms import default_arithmetic_task
from circuits.tasks import Task
from circuits.tasks.registry import task_for
from interp.engine import logit_diff

N_RANDOM = 5
"""Random head sets drawn for each kind's ablation control."""

KEEP = 0.2
"""A patching circuit keeps the heads whose effect reaches this share of the largest."""

EVIDENCE_TOKENS = 8192
"""At most this many prompt tokens (prompts x positions) per evidence task: long prompts (needles in
haystacks of hundreds of tokens) get fewer of them, so the engine's cached run stays a few GiB."""

TASK_OF_KIND = {name: kind.evidence_task for name, kind in HEAD_KINDS.items()}
"""The task whose ablation tests each head kind."""


def build_task(model: Any, name: str, *, n_prompts: int = 64, seed: int = 0) -> Task:
    """Task ``name`` for ``model`` (see :func:`circuits.tasks.registry.task_for`); arithmetic for a
    model outside the zoo is the form it solves (:mod:`circuits.heads.arithmetic_forms`)."""
    if name == "arithmetic":
        return default_arithmetic_task(model, n_prompts=n_prompts, seed=seed)
    return task_for(model, name, n_prompts=n_prompts, seed=seed)


def task_metric(task: Task):
    """The task's logit difference as an engine metric, read at each prompt's own position."""
    return logit_diff(task.answer_tokens, task.wrong_tokens, task.positions[:, None])


def ablation_evidence(
    model: Any, scores: HeadScores, *, seed: int = 0, n_prompts: int = 64
) -> list[AblationResult]:
    """For each kind with heads: mean-ablate them together on the kind's task against random head
    sets (none when the kind's heads outnumber the heads outside them), and each head alone.

    The metric is the task's accuracy. Each result's first row is the set, then one row per head
    with its ``role`` (needed alone, backup or redundant, not needed).
    """
    results = []
    for kind in scores.kinds:
        heads = scores.heads(kind)
        task_name = TASK_OF_KIND.get(kind)
        if not heads or task_name is None:
            continue
        try:
            task = evidence_task(model, task_name, n_prompts=n_prompts, seed=seed + 1)
        except ValueError:
            continue  # the model cannot express this kind's task
        others = model.n_layers * model.n_heads - len(heads)
        n_random = N_RANDOM if len(heads) <= others else 0  # a control needs as many heads outside the set
        result = head_ablations(model, heads, task, n_random=n_random, seed=seed)
        result.df.insert(0, "kind", kind)
        results.append(result)
    return results


def evidence_task(model: Any, name: str, *, n_prompts: int = 64, seed: int = 0) -> Task:
    """Task ``name`` with at most ``n_prompts`` prompts and :data:`EVIDENCE_TOKENS` tokens in all."""
    task = build_task(model, name, n_prompts=n_prompts, seed=seed)
    fits = max(8, EVIDENCE_TOKENS // max(1, task.clean_tokens.shape[1]))
    return task.subset(torch.arange(min(len(task), fits))) if fits < len(task) else task


def patching_circuits(
    model: Any, scores: HeadScores, *, seed: int = 0, n_prompts: int = 64, keep: float = KEEP
) -> list[tuple[str, HeadScores]]:
    """For each task whose kinds have heads, per-head activation patching and the circuit it finds.

    The circuit keeps heads whose patching effect reaches ``keep`` of the largest, as
    ``interp discover --method patching`` does.
    """
    circuits = []
    tasks = dict.fromkeys(TASK_OF_KIND[k] for k in scores.kinds if k in TASK_OF_KIND and scores.heads(k))
    for task_name in tasks:
        try:
            task = evidence_task(model, task_name, n_prompts=n_prompts, seed=seed + 3)
        except ValueError:
            continue
        importance = discover_scores(model, task, "patching")
        threshold = float(importance.max()) * keep
        circuits.append((task_name, HeadScores.from_grid(f"circuit_{task_name}", importance, threshold)))
    return circuits


DISCOVERY_METHODS = {"patching": "activation_patching", "eap": "eap", "eap-ig": "eap_ig", "sae": "sae"}
"""``interp discover --method`` choices, each naming its finder in
:data:`circuits.circuit_finders.FINDERS`."""


def discover_scores(model: Any, task: Task, method: str) -> torch.Tensor:
    """Per-head importance ``[layer, head]`` for the task, by ``method``."""
    if method not in DISCOVERY_METHODS:
        raise ValueError(f"unknown discovery method {method!r}; expected one of {list(DISCOVERY_METHODS)}")
    # Only the SAE finder reads which prompts the model solves (its positives); measuring it costs a pass.
    found = circuit_task(task, [], metric=task_metric(task), model=model if method == "sae" else None)
    return torch.as_tensor(FINDERS[DISCOVERY_METHODS[method]](model, found)).float().cpu()
