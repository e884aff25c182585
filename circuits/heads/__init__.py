"""Head finders: which attention heads copy, increment, retrieve and compute.

``find_heads(model, kinds=...)`` runs each kind's finder and stacks their
``HeadScores``. One module per kind:

- :mod:`circuits.heads.induction`: previous-token, duplicate-token and induction heads;
- :mod:`circuits.heads.successor`: successor heads (Gould et al.);
- :mod:`circuits.heads.retrieval`: retrieval heads (Wu et al.);
- :mod:`circuits.heads.arithmetic`: arithmetic heads (Zhang et al.).

Finders that need prompts build them with :func:`circuits.tasks.registry.task_for`:
a zoo model gets its own training format, any other model the generic tasks.
"""

from collections.abc import Callable, Sequence

from circuits.heads.induction import find_induction_heads
from circuits.heads.scores import HeadScores as HeadScores
from circuits.heads.scores import head_name as head_name
from interp import HookedModel

INDUCTION_FAMILY = ("previous_token", "duplicate_token", "induction")


def _successor(model: HookedModel, seed: int) -> HeadScores:
    from circuits.heads.successor import find_successor_heads, token_sets_for

    return find_successor_heads(model, token_sets_for(model), seed=seed)


def _retrieval(model: HookedModel, seed: int) -> HeadScores:
    from circuits.heads.retrieval import find_retrieval_heads_for_task
    from circuits.tasks.registry import task_for

    return find_retrieval_heads_for_task(model, task_for(model, "retrieval", n_prompts=40, seed=seed))


def _arithmetic(model: HookedModel, seed: int) -> HeadScores:
    from circuits.heads.arithmetic import find_arithmetic_heads_for_task
    from circuits.tasks.registry import task_for

    return find_arithmetic_heads_for_task(model, task_for(model, "arithmetic", n_prompts=128, seed=seed))


FINDERS: dict[str, Callable[[HookedModel, int], HeadScores]] = {
    "induction": lambda model, seed: find_induction_heads(model, seed=seed),
    "successor": _successor,
    "retrieval": _retrieval,
    "arithmetic": _arithmetic,
}
"""Finder per kind group; each returns the rows of one or more kinds."""

KINDS = (*INDUCTION_FAMILY, "successor", "retrieval", "arithmetic")
"""Every head kind ``find_heads`` can score."""


def find_heads(
    model: HookedModel,
    kinds: str | Sequence[str] = KINDS,
    *,
    seed: int = 0,
    skip_unsupported: bool = False,
) -> HeadScores:
    """Score every head of ``model`` for each kind in ``kinds``.

    Args:
        kinds: Head kinds (see :data:`KINDS`), or one kind's name.
        seed: Seeds the prompts each finder samples.
        skip_unsupported: Leave out a kind whose finder refuses the model (its tokenizer cannot
            express the kind's task, or the model fails the task) and record why in
            ``HeadScores.skipped``, instead of raising.

    Raises:
        ValueError: An unknown kind, naming the known ones; a kind the model cannot be scored for
            (unless ``skip_unsupported``); or every kind skipped.
    """
    if not isinstance(model, HookedModel):
        raise TypeError(f"find_heads needs a HookedModel (interp.load_model), got {type(model).__name__}")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"unknown head kind(s) {unknown or list(kinds)}; expected some of {list(KINDS)}")
    groups = ["induction"] if any(k in INDUCTION_FAMILY for k in kinds) else []
    groups += [k for k in kinds if k not in INDUCTION_FAMILY]
    parts, skipped = [], {}
    for group in groups:
        try:
            part = FINDERS[group](model, seed)
        except ValueError as err:
            if not skip_unsupported:
                raise ValueError(f"cannot score {group} heads on {model.spec}: {err}") from err
            skipped[group] = str(err)
            continue
        parts.append(HeadScores(part.df[part.df["kind"].isin(kinds)].reset_index(drop=True)))
    if not parts:
        raise ValueError(f"no head kind could be scored on this model: {skipped}")
    return HeadScores(HeadScores.concat(parts).df, skipped)
