"""Task library: prompts with known answers, corrupted twins and metrics, for any tokenizer.

Generators (each takes a :class:`~interp.HookedModel` and a seed, and refuses with a
``ValueError`` naming the offending string what the tokenizer cannot express):

- :func:`induction_task`: random tokens with a span repeated at a random period;
- :func:`successor_task`: ordinal sets (numbers, number words, ordinals, days, months, letters);
- :func:`retrieval_task` / :func:`retrieval_grid`: a key-value needle in a haystack of real text;
- :func:`arithmetic_task`: multi-digit addition and subtraction with counterfactual operands;
- :func:`few_shot_arithmetic_task`: the same as text after solved examples, for pretrained models;
- :func:`ioi_task` and :func:`greater_than_task`: for hub models (GPT-2-like tokenizers).

:func:`zoo_tasks` builds the tasks a zoo card lists, in the formats the model was trained on.

Example:
    >>> from interp.testing import tiny_model
    >>> task = induction_task(tiny_model("gpt2"), n_prompts=2, seq_len=12)
    >>> task.metric, len(task)
    ('logit_diff', 2)
"""

from collections.abc import Mapping
from typing import Any

import numpy as np

from circuits.tasks.arithmetic import arithmetic_task as arithmetic_task
from circuits.tasks.base import METRICS as METRICS
from circuits.tasks.base import MetricName as MetricName
from circuits.tasks.base import Task as Task
from circuits.tasks.base import make_task as make_task
from circuits.tasks.few_shot_arithmetic import few_shot_arithmetic_task as few_shot_arithmetic_task
from circuits.tasks.greater_than import greater_than_task as greater_than_task
from circuits.tasks.induction import induction_task as induction_task
from circuits.tasks.ioi import ioi_task as ioi_task
from circuits.tasks.retrieval import retrieval_grid as retrieval_grid
from circuits.tasks.retrieval import retrieval_task as retrieval_task
from circuits.tasks.successor import successor_task as successor_task
from circuits.tasks.token_sets import ORDINAL_SETS as ORDINAL_SETS
from interp import HookedModel

ZOO_TASKS = ("induction", "successor", "retrieval", "arithmetic")
"""Task names a zoo card may list."""


def zoo_task(
    model: HookedModel, name: str, kwargs: Mapping[str, Any], *, n_prompts: int = 64, seed: int = 0
) -> Task:
    """One task in a zoo model's training format (``kwargs`` as the card records them)."""
    from circuits.tasks.retrieval import KEYS, VALUES
    from circuits.tasks.zoo_vocab import zoo_filler, zoo_sets

    o = dict(kwargs)
    if name == "induction":
        vocab = [*zoo_filler(), *KEYS, *VALUES]
        return induction_task(
            model,
            n_prompts=n_prompts,
            seq_len=o["seq_len"],
            span=tuple(o["span"]),
            vocab=vocab,
            seed=seed,
            spread=o.get("spread", 0.0),
        )
    if name == "successor":
        return successor_task(
            model,
            sets=tuple(zoo_sets()),
            form=o.get("form", "recall"),
            n_prompts=n_prompts,
            seq_len=o["seq_len"],
            filler=zoo_filler(),
            seed=seed,
        )
    if name == "retrieval":
        return retrieval_task(
            model,
            form="filler",
            context_len=o["context_len"],
            depths=tuple(np.linspace(0, 1, 10)),
            n_prompts=n_prompts,
            filler=zoo_filler(),
            seed=seed,
        )
    if name == "arithmetic":
        return arithmetic_task(
            model, n_prompts=n_prompts, n_digits=o["n_digits"], operation=o["operation"], seed=seed
        )
    raise ValueError(f"unknown zoo task {name!r}; expected one of {ZOO_TASKS}")


def zoo_tasks(
    model: HookedModel, card: Mapping[str, Any], *, n_prompts: int = 64, seed: int = 0
) -> list[Task]:
    """The tasks a zoo card lists (``card["tasks"]``), freshly sampled with ``seed``."""
    return [
        zoo_task(model, t["name"], t.get("kwargs", {}), n_prompts=n_prompts, seed=seed + 1000 * k)
        for k, t in enumerate(card["tasks"])
    ]
