"""Head finders: which attention heads copy, increment, retrieve and compute.

``find_heads(model, kinds=...)`` runs each kind's finder and stacks their
``HeadScores``. One module per kind:

- :mod:`circuits.heads.induction`: previous-token, duplicate-token and induction heads;
- :mod:`circuits.heads.successor`: successor heads (Gould et al.);
- :mod:`circuits.heads.retrieval`: retrieval heads (Wu et al.);
- :mod:`circuits.heads.arithmetic`: arithmetic heads (Zhang et al.).

Every kind is declared once in :mod:`circuits.heads.kinds` (its finder, its default inputs, the
task of its causal evidence). Default inputs come from :func:`circuits.tasks.registry.task_for`:
a zoo model gets its own training format, any other model the generic tasks its tokenizer can
express. ``find_heads(model, tasks={"arithmetic": my_task})`` replaces one kind's.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from circuits.heads.kinds import FINDERS as FINDERS
from circuits.heads.kinds import HEAD_KINDS as HEAD_KINDS
from circuits.heads.kinds import KINDS as KINDS
from circuits.heads.kinds import Finder as Finder
from circuits.heads.kinds import HeadKind as HeadKind
from circuits.heads.scores import HeadScores as HeadScores
from circuits.heads.scores import head_name as head_name
from interp import HookedModel


def find_heads(
    model: HookedModel,
    kinds: str | Sequence[str] = KINDS,
    *,
    seed: int = 0,
    skip_unsupported: bool = False,
    inputs: Mapping[str, Any] | None = None,
    tasks: Mapping[str, Any] | None = None,
) -> HeadScores:
    """Score every head of ``model`` for each kind in ``kinds``.

    Each kind's default inputs are built from what the tokenizer can express (a zoo model's own
    formats; for any other model the ordinal sets, digits and operators it writes as single tokens,
    with or without a leading space, and token needles where it has no English words).

    Args:
        kinds: Head kinds (see :data:`KINDS`), or one kind's name.
        seed: Seeds the prompts each finder samples.
        skip_unsupported: Leave out a kind whose finder refuses the model (its tokenizer cannot
            express the kind's task, or the model fails the task) and record why in
            ``HeadScores.skipped``, instead of raising.
        inputs: Per finder (:data:`FINDERS`), your own input in place of its default: prompts
            (``"induction"``), token sets (``"successor"``) or a task (any finder).
        tasks: Per kind (:data:`KINDS`), your own :class:`~circuits.tasks.Task` (or an input of
            ``inputs``' types) for the finder that scores it (:data:`HEAD_KINDS`), e.g.
            ``{"arithmetic": arithmetic_task(model, n_digits=1)}``. A successor task gives both the
            pairs scored and the prompts of the behavioural check; an induction task its clean
            prompts. Kinds of one finder share one input.

    Raises:
        ValueError: An unknown kind, naming the known ones; a kind the model cannot be scored for
            (unless ``skip_unsupported``); every kind skipped; an input given twice for one finder.
        TypeError: An input of a type its finder does not take.
    """
    if not isinstance(model, HookedModel):
        raise TypeError(f"find_heads needs a HookedModel (interp.load_model), got {type(model).__name__}")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"unknown head kind(s) {unknown or list(kinds)}; expected some of {list(KINDS)}")
    given = _given_inputs(inputs, tasks)
    groups = list(dict.fromkeys(HEAD_KINDS[k].finder for k in kinds))
    parts, skipped = [], {}
    for group in groups:
        finder = FINDERS[group]
        try:
            own = given.get(group)
            found = finder.find(model, own if own is not None else finder.default_inputs(model, seed), seed)
        except ValueError as err:
            if not skip_unsupported:
                raise ValueError(f"cannot score {group} heads on {model.spec}: {err}") from err
            skipped[group] = str(err)
            continue
        parts.append(HeadScores(found.df[found.df["kind"].isin(kinds)].reset_index(drop=True)))
    if not parts:
        raise ValueError(f"no head kind could be scored on this model: {skipped}")
    return HeadScores(HeadScores.concat(parts).df, skipped)


def _given_inputs(inputs: Mapping[str, Any] | None, tasks: Mapping[str, Any] | None) -> dict[str, Any]:
    """The caller's input per finder, from ``inputs`` (by finder) and ``tasks`` (by kind), checked."""
    for name, value in (("inputs", inputs), ("tasks", tasks)):
        if value is not None and not isinstance(value, Mapping):
            raise TypeError(f"{name} is a {type(value).__name__}; expected a dict")
    given = {k: v for k, v in (inputs or {}).items() if v is not None}
    unknown_inputs = sorted(set(inputs or {}) - set(FINDERS))
    if unknown_inputs:
        raise ValueError(f"inputs for unknown finder(s) {unknown_inputs}; expected some of {list(FINDERS)}")
    unknown_kinds = sorted(set(tasks or {}) - set(KINDS))
    if unknown_kinds:
        raise ValueError(f"tasks for unknown head kind(s) {unknown_kinds}; expected some of {list(KINDS)}")
    from_inputs, by_kind = set(given), {}
    for kind, task in (tasks or {}).items():
        if task is None:
            continue
        finder = HEAD_KINDS[kind].finder
        if finder in from_inputs:
            raise ValueError(
                f"head kind {kind!r} has a task in tasks and an input in inputs[{finder!r}] (its finder); "
                "expected one of them"
            )
        if finder in by_kind and given[finder] is not task:
            raise ValueError(
                f"head kinds {by_kind[finder]!r} and {kind!r} have different tasks, but the {finder} finder "
                "scores both from one input; expected one task for both"
            )
        given[finder], by_kind[finder] = task, by_kind.get(finder, kind)
    for finder, value in given.items():
        where = f"tasks[{by_kind[finder]!r}]" if finder in by_kind else f"inputs[{finder!r}]"
        FINDERS[finder].check_input(value, where)
    return given
