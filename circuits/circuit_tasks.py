"""Circuit-finding tasks with ground truth: any task as a :class:`~circuits.circuit_metrics.CircuitTask`,
and the zoo's tasks with the heads their cards name.

Example:
    >>> card = {"heads": {"induction": ["L1H2"], "previous_token": ["L0H1"]}}
    >>> ground_truth_from_card(card, roles=["previous_token"])
    [(0, 1)]
"""

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor

from circuits.circuit_finders import FinderUnavailable
from circuits.circuit_metrics import CircuitTask, HeadLike, parse_heads
from circuits.sae_circuits import solved_prompts
from circuits.tasks import zoo_task
from interp import HookedModel
from interp.engine import Metric, MetricFn


def ground_truth_from_card(
    card: Mapping[str, Any], roles: Sequence[str] | None = None
) -> list[tuple[int, int]]:
    """The heads a zoo card lists by role (all roles, or only ``roles``).

    Reads ``card["heads"]`` as a mapping role -> heads (or role -> ``{"heads": [...], ...}``), each
    head ``"L1H2"``, ``[1, 2]`` or ``{"layer": 1, "head": 2, ...}``, or as a list of
    ``{"layer", "head", "role"}`` records.
    """
    heads = card.get("heads")
    if heads is None:
        raise ValueError(f"the card has no 'heads' entry; keys are {sorted(card)}")
    items: list[tuple[str, Any]] = []
    if isinstance(heads, Mapping):
        for role, entries in heads.items():
            if isinstance(entries, Mapping) and "layer" not in entries:
                entries = entries.get("heads", [])  # a role record: {"heads": [...], evidence...}
            items += [(role, e) for e in (entries if isinstance(entries, list) else [entries])]
    else:
        items = [(e.get("role", ""), e) if isinstance(e, Mapping) else ("", e) for e in heads]
    wanted = None if roles is None else set(roles)
    out = []
    for role, entry in items:
        if wanted is not None and role not in wanted:
            continue
        if isinstance(entry, Mapping):
            entry = (int(entry["layer"]), int(entry["head"]))
        elif isinstance(entry, str):
            entry = parse_heads([entry], 10**6, 10**6)[0]
        out.append((int(entry[0]), int(entry[1])))
    return list(dict.fromkeys(out))


def circuit_task(
    task: Any,
    ground_truth: Sequence[HeadLike],
    *,
    metric: str | MetricFn = "logit_diff",
    name: str | None = None,
    model: HookedModel | None = None,
) -> CircuitTask:
    """A :class:`CircuitTask` from a :class:`circuits.tasks.Task` (or any object with ``clean_tokens`` and
    ``corrupted_tokens``).

    Args:
        metric: A metric callable, or the name of one of the task's metric methods (``logit_diff``...).
            When the task has per-prompt metric ``positions``, the metric becomes an
            :class:`interp.engine.Metric` reading those positions, so that patching engines read the
            right logits.
        model: When given, the task's ``solved`` mask is measured on it
            (:func:`circuits.sae_circuits.solved_prompts`), so that the SAE finder's positives are the
            prompts this model completes.
    """
    fn = getattr(task, metric, None) if isinstance(metric, str) else metric
    if not callable(fn):
        raise ValueError(
            f"task has no metric {metric!r}; expected a callable or a method name such as 'logit_diff'"
        )
    for attr in ("clean_tokens", "corrupted_tokens"):
        if getattr(task, attr, None) is None:
            raise ValueError(f"task has no {attr}; expected a task with clean and corrupted prompts")
    positions = getattr(task, "positions", None)
    if isinstance(positions, Tensor) and isinstance(metric, str):
        fn = Metric(fn=fn, positions=positions.long().cpu()[:, None], name=metric)
    return CircuitTask(
        name=name or str(getattr(task, "name", type(task).__name__)),
        clean_tokens=task.clean_tokens,
        corrupted_tokens=task.corrupted_tokens,
        metric=fn,
        ground_truth=list(ground_truth),
        negative_tokens=getattr(task, "negative_tokens", None),
        solved=None if model is None else solved_prompts(model, task),
    )


TASK_ROLES = {
    "induction": ("induction", "previous_token", "prev_token"),
    "retrieval": ("retrieval", "previous_token", "prev_token"),
}
"""For cards without per-task evidence: the roles that belong to a task's circuit besides those named
after the task. An induction circuit includes its previous-token heads (Olsson et al. 2022), and so does
a key-value lookup (``... K V ... ? K`` -> ``V``), which finds ``V`` as the token after the earlier
``K``."""


def _task_roles(task_name: str, roles: Sequence[str]) -> list[str]:
    extra = TASK_ROLES.get(task_name, ())
    return [r for r in roles if str(r).startswith(task_name) or any(str(r).startswith(e) for e in extra)]


def task_circuit_from_card(card: Mapping[str, Any], task_name: str) -> list[tuple[int, int]]:
    """The heads a zoo card names for one task, whatever their role.

    The card's ``evidence`` entry for the task lists every head with ablation evidence on that task (and
    its backups), each with a role; a role such as ``previous_token`` is shared between tasks, so the
    card's ``heads`` mapping alone cannot say which task a head serves. A task the model did not learn
    has no circuit. Cards without per-task evidence fall back to the roles named after the task (plus
    :data:`TASK_ROLES`).

    Where it matters: the organism's retrieval evidence includes both of its previous-token heads
    (mean-ablating the two together takes retrieval accuracy from 0.995 to 0.17, random pairs leave
    0.99, and its retrieval heads without them keep 5-31% of the logit difference), and successor-2l's
    successor evidence includes its previous-token head L0H3.
    """
    for entry in card.get("evidence") or []:
        if entry.get("task") == task_name:
            if not entry.get("learned", True):
                return []
            return ground_truth_from_card({"heads": {"": list(entry.get("heads") or [])}})
    heads = card.get("heads") or {}
    roles = list(heads) if isinstance(heads, Mapping) else sorted({str(h.get("role", "")) for h in heads})
    mine = _task_roles(task_name, roles)
    return ground_truth_from_card(card, mine) if mine else []


def zoo_circuit_tasks(
    name: str = "organism", *, n_prompts: int = 32, seed: int = 0, ground_truth: str = "roles"
) -> tuple[HookedModel, list[CircuitTask]]:
    """A zoo model and its tasks (``circuits.tasks.zoo_task``), each with ground truth from the card.

    Args:
        ground_truth: ``"roles"``: every head the card names for the task, whatever its role
            (:func:`task_circuit_from_card`), i.e. the circuit as the card describes it;
            ``"task_heads"``: the card's ``task_heads`` entry, the smallest set whose joint ablation
            breaks the task.

    Tasks whose circuit on the card has no heads, or every head (a ranking has nothing to separate),
    are left out.

    Raises:
        FinderUnavailable: When the zoo model or the task library is not present.
    """
    from interp import load_model
    from interp.zoo import zoo_names
    from interp.zoo.registry import zoo_card

    if ground_truth not in ("roles", "task_heads"):
        raise ValueError(f"unknown ground_truth {ground_truth!r}; expected 'roles' or 'task_heads'")
    if name not in zoo_names():
        raise FinderUnavailable(f"no zoo model {name!r}; present: {zoo_names()}")
    card = zoo_card(name)
    model = load_model(f"zoo:{name}", device="cpu")
    tasks = []
    for k, spec in enumerate(card.get("tasks", [])):
        task_name = spec["name"]
        if ground_truth == "roles":
            truth = task_circuit_from_card(card, task_name)
        else:
            truth = list((card.get("task_heads") or {}).get(task_name, []))
        if not truth or len(truth) == model.n_layers * model.n_heads:
            continue
        task = zoo_task(model, task_name, spec.get("kwargs") or {}, n_prompts=n_prompts, seed=seed + 1000 * k)
        tasks.append(circuit_task(task, truth, name=task_name, model=model))
    return model, tasks
