"""Greater-than (Hanna et al. 2023), for hub models.

Prompts ``"The war lasted from the year 17YY to the year 17"``: a century token
(``" 17"``) and a two-digit year token (``"YY"``, 02-98), then the same century;
a model that can compare puts its mass on years above YY. The answer is ``YY + 1``
and the wrong answer ``YY - 1`` (a logit difference across the threshold); the
corrupted prompt uses year ``01`` (the paper's baseline). Two-digit years must be single
tokens (GPT-2 BPE has them); the first one that is not is named in the error.

Example:
    >>> from interp.testing import tiny_model
    >>> greater_than_task(tiny_model("gpt2"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ...
"""

import numpy as np

from circuits.tasks.base import MetricName, Task, make_task
from circuits.tasks.tokens import bos_ids, check_context, check_known, word_tokens
from interp import HookedModel

NOUNS = "war deal period relationship contract flight journey trip voyage expedition".split()
"""Event nouns of the templates."""


def greater_than_task(
    model: HookedModel,
    *,
    n_prompts: int = 64,
    century: int = 17,
    noun: str = "war",
    seed: int = 0,
    metric: MetricName = "logit_diff",
) -> Task:
    """Greater-than prompts with one noun (so that all prompts share a length).

    Raises:
        ValueError: A century or two-digit year that is not one token, or an unknown noun.
    """
    years = [f"{y:02d}" for y in range(100)]
    # Year tokens follow the century without a space: look them up bare.
    ids = []
    for y in years:
        got = check_known(model, y)
        if len(got) != 1:
            raise ValueError(
                f"{y!r} (two-digit year) is not a single token of this tokenizer: it becomes "
                f"{[model.tokenizer.decode([i]) for i in got]}; expected one token"
            )
        ids.append(got[0])
    (cent,) = word_tokens(model, [str(century)], what="century")
    prefix = check_known(model, f"The {noun} lasted from the year")
    middle = check_known(model, " to the year")
    bos = bos_ids(model)
    check_context(model, len(bos) + len(prefix) + len(middle) + 3, f"The {noun} lasted ...")
    rng = np.random.default_rng(seed)
    yy = rng.integers(2, 99, n_prompts)
    clean = [bos + prefix + [cent, ids[y]] + middle + [cent] for y in yy]
    corrupted = [bos + prefix + [cent, ids[1]] + middle + [cent] for _ in yy]
    meta = [{"task": "greater_than", "noun": noun, "century": century, "year": int(y)} for y in yy]
    return make_task(
        "greater_than",
        clean,
        corrupted,
        [ids[y + 1] for y in yy],
        [ids[y - 1] for y in yy],
        [len(clean[0]) - 1] * n_prompts,
        meta,
        metric,
    )
