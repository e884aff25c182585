"""Head finders: which attention heads copy, increment, retrieve and compute.

``find_heads(model, kinds=...)`` runs each kind's finder and stacks their
``HeadScores``. One module per kind:

- :mod:`circuits.heads.induction`: previous-token, duplicate-token and induction heads;
- :mod:`circuits.heads.successor`: successor heads (Gould et al.);
- :mod:`circuits.heads.retrieval`: retrieval heads (Wu et al.).
"""

from collections.abc import Callable, Sequence

from circuits.heads.induction import find_induction_heads
from circuits.heads.scores import HeadScores as HeadScores
from circuits.heads.scores import head_name as head_name
from interp import HookedModel

INDUCTION_FAMILY = ("previous_token", "duplicate_token", "induction")

FINDERS: dict[str, Callable[[HookedModel, int], HeadScores]] = {
    "induction": lambda model, seed: find_induction_heads(model, seed=seed),
}
"""Finder per kind group; each returns the rows of one or more kinds."""

KINDS = (*INDUCTION_FAMILY,)
"""Every head kind ``find_heads`` can score."""


def find_heads(model: HookedModel, kinds: Sequence[str] = KINDS, *, seed: int = 0) -> HeadScores:
    """Score every head of ``model`` for each kind in ``kinds``.

    Args:
        kinds: Head kinds (see :data:`KINDS`).
        seed: Seeds the prompts each finder samples.

    Raises:
        ValueError: An unknown kind, naming the known ones.
    """
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"unknown head kind(s) {unknown or list(kinds)}; expected some of {list(KINDS)}")
    parts = []
    if any(k in INDUCTION_FAMILY for k in kinds):
        family = FINDERS["induction"](model, seed)
        parts.append(HeadScores(family.df[family.df["kind"].isin(kinds)].reset_index(drop=True)))
    for kind in kinds:
        if kind not in INDUCTION_FAMILY:
            parts.append(FINDERS[kind](model, seed))
    return HeadScores.concat(parts)
