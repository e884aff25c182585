"""Which arithmetic a model solves: the forms tried, hardest first, and the first one it solves.

Zhang et al. find arithmetic heads on arithmetic the model gets right; a model that fails a task has
no heads for it to find, and patching its wrong answers measures noise. :func:`solved_arithmetic_task`
measures the model's accuracy (the answer is its top token) on each form of :data:`FORMS` and
returns the first it solves on at least :data:`MIN_SOLVED` of the prompts; when it solves none it
says so, with every accuracy, and the arithmetic finder names no heads.

Example:
    >>> [name for name, _ in FORMS][-1]
    '1-digit addition, 3 solved examples first'
"""

from collections.abc import Callable

import torch

from circuits.tasks import Task, arithmetic_task
from circuits.tasks.few_shot_arithmetic import few_shot_arithmetic_task
from circuits.tasks.registry import task_for
from interp import HookedModel

MIN_SOLVED = 0.5
"""Least accuracy on a form for the model to count as solving it."""
PROBE_PROMPTS = 32
"""Prompts each form is measured on."""

FORMS: tuple[tuple[str, Callable[..., Task]], ...] = (
    ("3-digit addition, digit by digit", lambda m, **kw: arithmetic_task(m, n_digits=3, **kw)),
    ("2-digit addition, digit by digit", lambda m, **kw: arithmetic_task(m, n_digits=2, **kw)),
    (
        "2-digit addition, 3 solved examples first",
        lambda m, **kw: few_shot_arithmetic_task(m, n_digits=2, shots=3, **kw),
    ),
    (
        "1-digit addition, 3 solved examples first",
        lambda m, **kw: few_shot_arithmetic_task(m, n_digits=1, shots=3, **kw),
    ),
)
"""Arithmetic forms, hardest first: each ``(name, build(model, n_prompts=, seed=) -> Task)``."""


def form_accuracies(model: HookedModel, *, seed: int = 0) -> dict[str, float | str]:
    """The model's accuracy on each form (or why the form cannot be written for its tokenizer)."""
    found: dict[str, float | str] = {}
    for name, build in FORMS:
        try:
            found[name] = _probe(model, build, seed)
        except ValueError as err:
            found[name] = str(err)
    return found


def solved_arithmetic_task(model: HookedModel, *, n_prompts: int = 128, seed: int = 0) -> Task:
    """The first form of :data:`FORMS` the model solves, with ``n_prompts`` prompts.

    Its metadata gains ``form`` (the form's name) and ``form_accuracy`` (on the first
    :data:`PROBE_PROMPTS` prompts of the form with this seed).

    Raises:
        ValueError: The model solves none of the forms (each accuracy, or why it cannot be written).
    """
    tried = []
    for name, build in FORMS:
        try:
            accuracy = _probe(model, build, seed)
        except ValueError as err:
            tried.append(f"{name}: {err}")
            continue
        if accuracy >= MIN_SOLVED:
            task = build(model, n_prompts=n_prompts, seed=seed)
            task.metadata["form"] = name
            task.metadata["form_accuracy"] = accuracy
            return task
        tried.append(f"{name}: accuracy {accuracy:.2f}")
    raise ValueError(
        f"the model solves none of the arithmetic forms tried (at least {MIN_SOLVED:.0%} needed), so it "
        f"has no arithmetic heads to find: {'; '.join(tried)}"
    )


def default_arithmetic_task(model: HookedModel, *, n_prompts: int = 128, seed: int = 0) -> Task:
    """A zoo model's own arithmetic (the format it was trained on), else :func:`solved_arithmetic_task`:
    the task the arithmetic finder and its ablation evidence run on by default."""
    if model.zoo_name:
        return task_for(model, "arithmetic", n_prompts=n_prompts, seed=seed)
    return solved_arithmetic_task(model, n_prompts=n_prompts, seed=seed)


def _probe(model: HookedModel, build: Callable[..., Task], seed: int) -> float:
    """Accuracy on :data:`PROBE_PROMPTS` prompts of a form; ValueError when it cannot be written."""
    task = build(model, n_prompts=PROBE_PROMPTS, seed=seed)
    with torch.no_grad():
        return float(task.accuracy(model.run(task.clean_tokens)).mean())
