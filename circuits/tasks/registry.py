"""Tasks by name, for any model: a zoo model's own training format, else the generic generator.

Example:
    >>> from interp.testing import tiny_model
    >>> len(task_for(tiny_model("gpt2"), "induction", n_prompts=3))
    3
"""

from typing import Any

from interp.zoo import zoo_card

TASK_NAMES = ("induction", "successor", "retrieval", "arithmetic", "ioi", "greater_than")
"""Every task name :func:`task_for` builds."""

RETRIEVAL_CONTEXT = 320
"""Needle-in-a-haystack prompt length for models other than the zoo's (or the model's context less
:data:`ANSWER_ROOM`, if shorter): long enough for real haystack text around the needle, short enough
to decode on a CPU."""

ANSWER_ROOM = 8
"""Context left free after a retrieval prompt, for the answer the retrieval finder decodes (up to 8
tokens)."""


def task_for(model: Any, name: str, *, n_prompts: int = 64, seed: int = 0) -> Any:
    """Task ``name`` for ``model``.

    A zoo model (spec ``zoo:NAME``) gets the task in the format its card records,
    so prompts are in its training distribution; any other model gets the
    generic generator's defaults, built from what its tokenizer expresses: retrieval prompts of
    :data:`RETRIEVAL_CONTEXT` tokens with a needle sentence in English text, or token needles
    (``form="tokens"``) where the tokenizer cannot write that sentence; the successor sets and the
    digits and operators of a sum it writes as single tokens, with or without a leading space.

    Raises:
        ValueError: An unknown task name, a zoo model that was not trained on a zoo
            task, or a tokenizer that cannot express the task.
    """
    import circuits.tasks as tasks

    if name not in TASK_NAMES:
        raise ValueError(f"unknown task {name!r}; expected one of {list(TASK_NAMES)}")
    if getattr(model, "zoo_name", None):
        card = zoo_card(model.zoo_name)
        listed = {t["name"]: t.get("kwargs", {}) for t in card.get("tasks", [])}
        if name in listed:
            return tasks.zoo_task(model, name, dict(listed[name]), n_prompts=n_prompts, seed=seed)
        if name in tasks.ZOO_TASKS:
            raise ValueError(f"{model.spec} was not trained on {name!r}; its tasks are {sorted(listed)}")
    if name == "retrieval":
        context_len = min(RETRIEVAL_CONTEXT, int(model.n_ctx) - ANSWER_ROOM)
        try:
            return tasks.retrieval_task(model, context_len=context_len, n_prompts=n_prompts, seed=seed)
        except ValueError as words:
            try:
                return tasks.retrieval_task(
                    model, form="tokens", context_len=context_len, n_prompts=n_prompts, seed=seed
                )
            except ValueError as tokens:
                raise ValueError(
                    f"the tokenizer writes neither a needle sentence ({words}) nor token needles ({tokens})"
                ) from tokens
    return getattr(tasks, f"{name}_task")(model, n_prompts=n_prompts, seed=seed)
