"""Indirect object identification (Wang et al. 2022), for hub models.

Templates (BABA order, from the paper's dataset) such as ``"When Mary and John went
to the store, John gave a drink to"``; the answer is the indirect object (``" Mary"``),
the wrong answer the subject (``" John"``). The corrupted prompt (the paper's ABC
distribution) replaces the second mention of the subject with a third name, so no name
is repeated. Names must be single tokens; the first one that is not is named in the
error. All prompts of one task come from one template, so they share a length.

Example:
    >>> from interp.testing import tiny_model
    >>> ioi_task(tiny_model("gpt2"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: 'Mary' (name) is not a single token of this tokenizer...
"""

import numpy as np

from circuits.tasks.base import MetricName, Task, make_task
from circuits.tasks.tokens import bos_ids, check_context, check_known, word_tokens
from interp import HookedModel

NAMES = (
    "Mary John Tom James Dan Sid Martin Amy Lisa Michael Paul Anna Kate Mark Sarah Rose Jack Emma Alex Laura"
).split()
"""Names (single tokens with a leading space in GPT-2)."""

TEMPLATES = (
    "When {IO} and {S} went to the store,{S2} gave a drink to",
    "When {IO} and {S} went to the park,{S2} gave a ball to",
    "After {IO} and {S} went to the school,{S2} gave a book to",
    "Then, {IO} and {S} had a long argument, and afterwards{S2} said to",
)
"""IOI templates; ``{S2}`` is the second subject mention (with its leading space)."""


def ioi_task(
    model: HookedModel,
    *,
    n_prompts: int = 64,
    template: int = 0,
    names: tuple[str, ...] = tuple(NAMES),
    seed: int = 0,
    metric: MetricName = "logit_diff",
) -> Task:
    """IOI prompts from template ``template`` of :data:`TEMPLATES`.

    Raises:
        ValueError: A name that is not a single token, or an unknown template index.
    """
    if not 0 <= template < len(TEMPLATES):
        raise ValueError(f"template {template} is out of range; expected 0 <= template < {len(TEMPLATES)}")
    ids = dict(zip(names, word_tokens(model, list(names), what="name"), strict=True))
    bos = bos_ids(model)
    rng = np.random.default_rng(seed)
    pieces = TEMPLATES[template].replace("{S2}", " {S2}").split("{")
    clean, corrupted, answers, wrongs, meta = [], [], [], [], []
    for _ in range(n_prompts):
        io, s, c = (str(x) for x in rng.choice(names, size=3, replace=False))

        def build(fill):
            out = []
            for piece in pieces:
                slot, _, text = piece.partition("}") if "}" in piece else ("", "", piece)
                if slot:
                    out.append(ids[fill[slot]])
                if text.strip():
                    out += check_known(model, text.rstrip(" ") if text.endswith(" ") else text)
            return bos + out

        clean.append(build({"IO": io, "S": s, "S2": s}))
        corrupted.append(build({"IO": io, "S": s, "S2": c}))
        answers.append(ids[io])
        wrongs.append(ids[s])
        meta.append({"task": "ioi", "template": template, "io": io, "s": s, "corrupt_name": c})
    check_context(model, len(clean[0]), TEMPLATES[template])
    return make_task("ioi", clean, corrupted, answers, wrongs, [len(clean[0]) - 1] * n_prompts, meta, metric)
