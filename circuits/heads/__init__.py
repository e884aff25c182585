"""Head finders: which attention heads copy, increment, retrieve and compute.

``find_heads(model, kinds=...)`` runs each kind's finder and stacks their
``HeadScores``. One module per kind:

- :mod:`circuits.heads.induction`: previous-token, duplicate-token and induction heads;
- :mod:`circuits.heads.successor`: successor heads (Gould et al.);
- :mod:`circuits.heads.retrieval`: retrieval heads (Wu et al.);
- :mod:`circuits.heads.arithmetic`: arithmetic heads (Zhang et al.).

Every kind is declared once in :mod:`circuits.heads.kinds` (its finder, its default inputs, the
task of its causal evidence). Default inputs come from :func:`circuits.tasks.registry.task_for`:
a zoo model gets its own training format, any other model the generic tasks.
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
) -> HeadScores:
    """Score every head of ``model`` for each kind in ``kinds``.

    Args:
        kinds: Head kinds (see :data:`KINDS`), or one kind's name.
        seed: Seeds the prompts each finder samples.
        skip_unsupported: Leave out a kind whose finder refuses the model (its tokenizer cannot
            express the kind's task, or the model fails the task) and record why in
            ``HeadScores.skipped``, instead of raising.
        inputs: Per finder (:data:`FINDERS`), your own input in place of its default: prompts
            (``"induction"``), token sets (``"successor"``) or a task (``"retrieval"``,
            ``"arithmetic"``).

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
    unknown_inputs = sorted(set(inputs or {}) - set(FINDERS))
    if unknown_inputs:
        raise ValueError(f"inputs for unknown finder(s) {unknown_inputs}; expected some of {list(FINDERS)}")
    groups = list(dict.fromkeys(HEAD_KINDS[k].finder for k in kinds))
    parts, skipped = [], {}
    for group in groups:
        finder = FINDERS[group]
        try:
            given = (inputs or {}).get(group)
            found = finder.find(
                model, given if given is not None else finder.default_inputs(model, seed), seed
            )
        except ValueError as err:
            if not skip_unsupported:
                raise ValueError(f"cannot score {group} heads on {model.spec}: {err}") from err
            skipped[group] = str(err)
            continue
        parts.append(HeadScores(found.df[found.df["kind"].isin(kinds)].reset_index(drop=True)))
    if not parts:
        raise ValueError(f"no head kind could be scored on this model: {skipped}")
    return HeadScores(HeadScores.concat(parts).df, skipped)
