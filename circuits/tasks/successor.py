"""Successor: continue an ordinal sequence (Gould et al. 2023, "Successor Heads").

Three prompt forms:

- ``list`` (for hub models, Gould et al.'s setting): ``n_shown`` consecutive members of
  a set, e.g. ``" Monday Tuesday Wednesday"``; the answer is the next member
  (``" Thursday"``), the wrong answer the last member shown (copying instead of
  incrementing). The corrupted prompt shows other members of the set in shuffled,
  non-consecutive order.
- ``recall`` (for the zoo): one member X hidden among filler words, then a cue word
  (``next``); the answer is the successor of X, the wrong answer X itself. The model
  must fetch X from earlier in the prompt with a head, so the increment can only
  happen in that head or in what follows it; the zoo's organism has no MLP after
  its last attention layer, so a last-layer head that does it increments in its own
  OV circuit. The corrupted prompt replaces X with another member of the same set.
- ``marked`` (for the zoo): the cue marks X (``next X``) among filler and distractor
  members of other sets, and the prompt ends with the cue again; the answer is the
  successor of X. Only X's position follows the cue, so a head can find X only through
  a previous-token head (an induction-style lookup, no earlier than layer 1), after
  MLP0 has read X: a model with no MLP after that layer must increment in the head's
  own OV circuit. Corrupted and wrong answer as in ``recall``.

The metadata names the set of each prompt (``set``), for per-set breakdowns.

Example:
    >>> from interp.testing import tiny_model
    >>> successor_task(tiny_model("gpt2"), sets=("days",))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: 'Monday' (member of set 'days') is not a single token of this tokenizer...
"""

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from circuits.tasks.base import MetricName, Task, make_task
from circuits.tasks.token_sets import ORDINAL_SETS, OrdinalSet
from circuits.tasks.tokens import bos_ids, check_context, leading_tokens, word_token, word_tokens
from interp import HookedModel

SuccessorForm = Literal["list", "recall", "marked"]
"""``list``: consecutive members, answer the next one. ``recall``: one member among filler, then a
cue; answer its successor. ``marked``: ``cue X`` among filler and distractor members, then the cue."""


MIN_MEMBERS = 5
"""The fewest members a set cut short keeps: a list prompt shows three and asks the fourth, and its
corrupted twin needs one more."""


def set_ids(model: HookedModel, sets: Sequence[str]) -> dict[str, tuple[list[int], bool]]:
    """Token ids of each named set's members, refusing any member that is not a single token."""
    out = {}
    for name in sets:
        s = _ordinal_set(name)
        out[name] = (word_tokens(model, list(s.members), what=f"member of set {name!r}"), s.cyclic)
    return out


def expressible_sets(
    model: HookedModel, names: Sequence[str] | None = None
) -> dict[str, tuple[list[int], bool]]:
    """Token ids of each named set (default: every set of :data:`ORDINAL_SETS`) that the tokenizer
    writes one token per member: the whole set, or for a set that does not wrap around the longest
    run of its first members, when that has at least :data:`MIN_MEMBERS` (``numbers`` is 1-9 where
    only single digits are one token). The rest are left out.

    Raises:
        ValueError: An unknown set name, or a tokenizer that expresses none of the sets (the first
            set's reason named).
    """
    names = list(ORDINAL_SETS if names is None else names)
    out, refused = {}, []
    for name in names:
        s = _ordinal_set(name)
        ids = leading_tokens(model, s.members)
        if len(ids) == len(s.members) or (not s.cyclic and len(ids) >= MIN_MEMBERS):
            out[name] = (ids, s.cyclic)
            continue
        try:
            word_tokens(model, s.members, what=f"member of set {name!r}")
        except ValueError as err:
            refused.append(f"{name}: {err}")
    if not out:
        raise ValueError(
            f"the tokenizer expresses none of the ordinal sets {', '.join(names)} as single tokens; "
            f"the first: {refused[0]}"
        )
    return out


def _ordinal_set(name: str) -> OrdinalSet:
    if name not in ORDINAL_SETS:
        raise ValueError(f"unknown token set {name!r}; expected one of {sorted(ORDINAL_SETS)}")
    return ORDINAL_SETS[name]


def _blank(
    rng: np.random.Generator, filler: np.ndarray, cue: int, n: int, seq_len: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    tokens = rng.choice(filler, size=(n, seq_len + 1))
    tokens[:, -1] = cue
    fields = ("member", "counterfactual", "answer", "member_pos", "set")
    return tokens, {k: np.zeros(n, dtype=np.int64) for k in fields}


def _draw_member(
    rng: np.random.Generator, sets: dict[str, tuple[list[int], bool]], out: dict[str, np.ndarray], i: int
) -> tuple[int, list[int], int]:
    """Draw prompt ``i``'s set and member (one that has a successor) into ``out``; return the set's
    index, its ids and the member's index."""
    names = list(sets)
    k = int(rng.integers(len(names)))
    ids, cyclic = sets[names[k]]
    last = len(ids) if cyclic else len(ids) - 1
    j, j2 = rng.choice(last, size=2, replace=False)
    out["member"][i], out["counterfactual"][i] = ids[j], ids[j2]
    out["answer"][i], out["set"][i] = ids[(j + 1) % len(ids)], k
    return k, ids, int(j)


def sample_recall(
    rng: np.random.Generator,
    sets: dict[str, tuple[list[int], bool]],
    filler: np.ndarray,
    cue: int,
    n: int,
    seq_len: int,
) -> dict[str, np.ndarray]:
    """``recall`` prompts on token ids: ``seq_len`` filler tokens with one member, then ``cue``.

    Returns:
        ``tokens`` [n seq_len+1] (cue last), ``member`` (X), ``counterfactual`` (another member),
        ``answer`` (successor of X), ``member_pos``, ``set`` (index into ``sets``).
    """
    tokens, out = _blank(rng, filler, cue, n, seq_len)
    for i in range(n):
        _, ids, j = _draw_member(rng, sets, out, i)
        pos = int(rng.integers(0, seq_len))
        tokens[i, pos] = ids[j]
        out["member_pos"][i] = pos
    return out | {"tokens": tokens}


def sample_marked(
    rng: np.random.Generator,
    sets: dict[str, tuple[list[int], bool]],
    filler: np.ndarray,
    cue: int,
    n: int,
    seq_len: int,
    n_distractors: int = 2,
) -> dict[str, np.ndarray]:
    """``marked`` prompts on token ids: ``seq_len`` tokens holding ``cue X`` and ``n_distractors``
    members of other sets, then ``cue``.

    Returns:
        As :func:`sample_recall`; ``member_pos`` is X's position (the cue is just before it).
    """
    if seq_len < 2 * n_distractors + 3:
        raise ValueError(
            f"seq_len {seq_len} is too short for the marked member and {n_distractors} distractors"
        )
    names = list(sets)
    if n_distractors and len(names) < 2:
        raise ValueError(f"distractors come from other sets; got only {names}")
    tokens, out = _blank(rng, filler, cue, n, seq_len)
    for i in range(n):
        k, ids, j = _draw_member(rng, sets, out, i)
        pos = int(rng.integers(1, seq_len))
        tokens[i, pos - 1 : pos + 1] = (cue, ids[j])
        free = [q for q in range(seq_len) if q not in (pos - 1, pos)]
        for q in rng.choice(free, size=n_distractors, replace=False):
            other = names[int(rng.choice([m for m in range(len(names)) if m != k]))]
            tokens[i, q] = rng.choice(sets[other][0])
        out["member_pos"][i] = pos
    return out | {"tokens": tokens}


def successor_task(
    model: HookedModel,
    *,
    sets: Sequence[str] | None = None,
    form: SuccessorForm = "list",
    n_prompts: int = 64,
    n_shown: int = 3,
    seq_len: int = 12,
    filler: Sequence[str] | None = None,
    cue: str = "next",
    seed: int = 0,
    metric: MetricName = "logit_diff",
) -> Task:
    """Successor prompts for ``model``, drawn evenly from ``sets``.

    Args:
        sets: Names of :data:`~circuits.tasks.token_sets.ORDINAL_SETS` to use, every member one
            token; default: the sets the tokenizer expresses (:func:`expressible_sets`, a set
            perhaps cut short).
        form: ``list``, ``recall`` or ``marked`` (see the module docstring).
        n_shown: Members shown in a ``list`` prompt.
        seq_len: Filler words in a ``recall`` or ``marked`` prompt (members replace some of them).
        filler: Filler words of those forms (each a single token, none a set member).
        cue: The last word of those forms (in ``marked``, also the word before X).

    Raises:
        ValueError: A member, filler word or cue that is not a single token, or a prompt
            longer than the context.
    """
    ids = set_ids(model, sets) if sets is not None else expressible_sets(model)
    sets = list(ids)
    bos = bos_ids(model)
    rng = np.random.default_rng(seed)
    if form in ("recall", "marked"):
        if not filler:
            raise ValueError(f"the {form} form needs filler words; pass filler=[...]")
        check_context(model, len(bos) + seq_len + 1, f"<{seq_len} filler words> {cue}")
        fill = np.array(word_tokens(model, list(filler), what="filler word"))
        members = {t for m, _ in ids.values() for t in m}
        if clash := [w for w, t in zip(filler, fill.tolist(), strict=True) if t in members]:
            raise ValueError(
                f"filler word {clash[0]!r} is a set member; expected filler outside {list(sets)}"
            )
        sample = sample_recall if form == "recall" else sample_marked
        s = sample(rng, ids, fill, word_token(model, cue, what="cue"), n_prompts, seq_len)
        corrupted = s["tokens"].copy()
        corrupted[np.arange(n_prompts), s["member_pos"]] = s["counterfactual"]
        meta = pd.DataFrame(
            {
                "task": "successor",
                "set": [list(sets)[k] for k in s["set"]],
                "member_pos": s["member_pos"] + len(bos),
            }
        )
        return make_task(
            "successor",
            [bos + r.tolist() for r in s["tokens"]],
            [bos + r.tolist() for r in corrupted],
            s["answer"].tolist(),
            s["member"].tolist(),
            [len(bos) + seq_len] * n_prompts,
            meta,
            metric,
        )
    if form != "list":
        raise ValueError(f"unknown successor form {form!r}; expected 'list', 'recall' or 'marked'")
    check_context(model, len(bos) + n_shown, f"<{n_shown} set members>")
    clean, corrupted, answers, wrongs, meta = [], [], [], [], []
    names = list(sets)
    for i in range(n_prompts):
        name = names[i % len(names)]
        s: OrdinalSet = ORDINAL_SETS[name]
        toks, _ = ids[name]
        n = len(toks)
        if n < n_shown + 2:
            raise ValueError(f"set {name!r} has {n} members; expected more than n_shown + 1 = {n_shown + 1}")
        starts = n if s.cyclic else n - n_shown
        start = int(rng.integers(starts))
        shown = [(start + k) % n for k in range(n_shown + 1)]
        others = [k for k in range(n) if k not in shown]
        mixed = (
            list(rng.choice(others, size=n_shown, replace=False)) if len(others) >= n_shown else shown[:-1]
        )
        clean.append(bos + [toks[k] for k in shown[:-1]])
        corrupted.append(bos + [toks[int(k)] for k in mixed])
        answers.append(toks[shown[-1]])
        wrongs.append(toks[shown[-2]])
        meta.append(
            {"task": "successor", "set": name, "last": s.members[shown[-2]], "answer": s.members[shown[-1]]}
        )
    return make_task(
        "successor", clean, corrupted, answers, wrongs, [len(bos) + n_shown - 1] * n_prompts, meta, metric
    )
