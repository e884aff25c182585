"""The registry of head kinds: every kind declared once, with its finder, inputs and evidence.

A :class:`HeadKind` says which :class:`Finder` scores it, which task its causal evidence
(mean ablation against random heads) and its report figure use. A :class:`Finder` scores one or
more kinds from one input: its :attr:`Finder.default_inputs` builds that input for a model
(prompts in a zoo model's own format, or the generic ones its tokenizer can express), and a
researcher can pass their own instead, by kind (``find_heads(model, tasks={"arithmetic": my_task})``,
any finder taking a :class:`~circuits.tasks.Task`) or by finder
(``find_heads(model, inputs={"successor": my_token_sets})``).

Adding a kind is one :class:`HeadKind` entry here (and a :class:`Finder` when no existing one
scores it); :func:`circuits.heads.find_heads`, ``interp heads`` and its report read this table.

Example:
    >>> HEAD_KINDS["induction"].finder, HEAD_KINDS["induction"].evidence_task
    ('induction', 'induction')
    >>> FINDERS["induction"].kinds
    ('previous_token', 'duplicate_token', 'induction')
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import Tensor

from circuits.heads.arithmetic import find_arithmetic_heads_for_task
from circuits.heads.arithmetic_forms import default_arithmetic_task
from circuits.heads.induction import find_induction_heads
from circuits.heads.retrieval import find_retrieval_heads_for_task
from circuits.heads.scores import HeadScores
from circuits.heads.successor import find_successor_heads, token_sets_for, token_sets_from_task
from circuits.tasks import Task
from circuits.tasks.registry import task_for
from circuits.tasks.zoo_vocab import zoo_sets
from interp import HookedModel


@dataclass(frozen=True, kw_only=True)
class Finder:
    """One head finder and the input it scores.

    Attributes:
        name: The finder's name, the key of its input in ``find_heads(inputs=...)``.
        kinds: The kinds its result holds rows of.
        default_inputs: ``(model, seed) -> input``: the prompts, token sets or task it scores when
            the caller gives none. Raises ``ValueError`` when the model cannot express them.
        find: ``(model, input, seed) -> HeadScores``; the input is a :class:`~circuits.tasks.Task`
            or one of :attr:`accepts`.
        accepts: The input types it takes besides a task.
    """

    name: str
    kinds: tuple[str, ...]
    default_inputs: Callable[[HookedModel, int], Any]
    find: Callable[[HookedModel, Any, int], HeadScores]
    accepts: tuple[type, ...] = ()

    def check_input(self, value: Any, where: str) -> None:
        """Refuse an input of a type this finder does not take, naming ``where`` it was given.

        Raises:
            TypeError: ``value`` is neither a task nor one of :attr:`accepts`.
        """
        if not isinstance(value, (Task, *self.accepts)):
            expected = " or ".join(t.__name__ for t in (Task, *self.accepts))
            raise TypeError(
                f"{where} is a {type(value).__name__}; the {self.name} finder expects a {expected}"
            )


@dataclass(frozen=True, kw_only=True)
class HeadKind:
    """A kind of attention head.

    Attributes:
        name: The kind, as tables and the command line spell it.
        finder: The :class:`Finder` that scores it.
        evidence_task: The task (:data:`circuits.tasks.registry.TASK_NAMES`) on which its heads are
            mean-ablated against random heads, and whose first prompt the report draws the top
            head's attention on.
        source: The paper that defines it.
    """

    name: str
    finder: str
    evidence_task: str
    source: str


def _induction_prompts(model: HookedModel, seed: int) -> Any:
    """A zoo model's own induction prompts (its vocabulary), else None: repeated random tokens."""
    if model.zoo_name:
        return task_for(model, "induction", n_prompts=32, seed=seed).clean_tokens
    return None


def _successor_sets(model: HookedModel, seed: int) -> Any:
    """The ordinal sets the tokenizer expresses as single tokens (a zoo model's own sets)."""
    return token_sets_for(model, list(zoo_sets()) if model.zoo_name else None)


def _find_induction(model: HookedModel, given: Any, seed: int) -> HeadScores:
    """Induction-family heads on the given prompts (a task's clean prompts)."""
    tokens = given.clean_tokens if isinstance(given, Task) else given
    return find_induction_heads(model, tokens, seed=seed)


def _find_successor(model: HookedModel, given: Any, seed: int) -> HeadScores:
    """Successor heads on token sets, or on the sets a successor task asks about (its prompts then
    also serve the behavioural check)."""
    if isinstance(given, Task):
        return find_successor_heads(model, token_sets_from_task(given), seed=seed, task=given)
    return find_successor_heads(model, given, seed=seed)


FINDERS: dict[str, Finder] = {
    finder.name: finder
    for finder in (
        Finder(
            name="induction",
            kinds=("previous_token", "duplicate_token", "induction"),
            default_inputs=_induction_prompts,
            find=_find_induction,
            accepts=(Tensor, np.ndarray, list, tuple),
        ),
        Finder(
            name="successor",
            kinds=("successor",),
            default_inputs=_successor_sets,
            find=_find_successor,
            accepts=(Mapping,),
        ),
        Finder(
            name="retrieval",
            kinds=("retrieval",),
            default_inputs=lambda model, seed: task_for(model, "retrieval", n_prompts=40, seed=seed),
            find=lambda model, task, seed: find_retrieval_heads_for_task(model, task),
        ),
        Finder(
            name="arithmetic",
            kinds=("arithmetic",),
            default_inputs=lambda model, seed: default_arithmetic_task(model, n_prompts=128, seed=seed),
            find=lambda model, task, seed: find_arithmetic_heads_for_task(model, task),
        ),
    )
}
"""Head finders by name; each scores the kinds it lists."""

HEAD_KINDS: dict[str, HeadKind] = {
    kind.name: kind
    for kind in (
        HeadKind(
            name="previous_token", finder="induction", evidence_task="induction", source="Olsson et al. 2022"
        ),
        HeadKind(
            name="duplicate_token", finder="induction", evidence_task="induction", source="Olsson et al. 2022"
        ),
        HeadKind(
            name="induction", finder="induction", evidence_task="induction", source="Olsson et al. 2022"
        ),
        HeadKind(name="successor", finder="successor", evidence_task="successor", source="Gould et al. 2023"),
        HeadKind(name="retrieval", finder="retrieval", evidence_task="retrieval", source="Wu et al. 2024"),
        HeadKind(
            name="arithmetic", finder="arithmetic", evidence_task="arithmetic", source="Zhang et al. 2024"
        ),
    )
}
"""Every head kind, in the order tables and reports show them."""

KINDS = tuple(HEAD_KINDS)
"""Every head kind ``find_heads`` can score."""
