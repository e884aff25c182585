"""Retrieval: a key-value needle in a haystack (Wu et al. 2024, "Retrieval Head").

The haystack is real public-domain English, Milton's *Areopagitica* shipped in
``data/haystack/`` (see its ``SOURCE.md``). Two forms:

- ``text`` (real tokenizers): haystack sentences with the needle
  ``" The secret word of the {key} is {value}."`` inserted at a sentence boundary
  at the requested depth, then ``" What is the secret word of the {key}? The secret
  word of the {key} is"``; the answer is the first token of ``" {value}"``. Every prompt
  has exactly ``context_len`` tokens (the haystack is cut to fit). The corrupted prompt
  has haystack text where the needle was; the wrong answer is another value's first token.
- ``filler`` (zoo word vocabularies): filler words with the needle ``K V`` (a key word
  followed by its value word) at the depth and two distractor needles with other keys and
  values elsewhere, then the question ``? K``; the answer is ``V``. The corrupted prompt
  holds another value ``V'`` in the asked needle, which is the wrong answer. This is
  multi-query associative recall: the value is found by matching the key, the copy-paste
  lookup of Wu et al.'s retrieval heads.
- ``tokens`` (tokenizers without English words): the ``filler`` prompts on random tokens of the
  vocabulary, drawn with the seed: keys, values, the question token and the filler are
  disjoint sets of ordinary tokens. Wu et al.'s copy-paste score needs only that the needle's
  tokens occur nowhere else, which it keeps.

:func:`retrieval_grid` builds one task per context length, needle depths spread evenly
within it (the depth of each prompt is in its metadata).

Example:
    >>> words = haystack_words(5)
    >>> len(words), all(w.isalpha() for w in words)
    (5, True)
"""

import re
from collections import Counter
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from circuits.tasks.base import MetricName, Task, make_task
from circuits.tasks.tokens import (
    bos_ids,
    check_context,
    check_known,
    content_ids,
    running_ids,
    text_ids,
    word_tokens,
)
from interp import HookedModel

HAYSTACK = Path(__file__).resolve().parents[2] / "data" / "haystack" / "areopagitica.txt"
"""Milton's Areopagitica (public domain), the haystack text."""

RetrievalForm = Literal["text", "filler", "tokens"]
"""``text``: English haystack and needle sentence. ``filler``: filler words, ``K V`` needles and ``? K``.
``tokens``: the ``filler`` form on random tokens of the vocabulary."""

KEYS = (
    "garden river window castle forest bridge island mountain village tower harbor desert valley "
    "temple market palace"
).split()
"""Keys of the ``text`` needle."""

VALUES = (
    "apple tiger violin copper lemon falcon marble pepper rabbit silver tulip walnut anchor basket "
    "candle dragon"
).split()
"""Values of the ``text`` needle."""


@cache
def haystack_sentences() -> tuple[str, ...]:
    """The haystack text split into sentences, whitespace collapsed."""
    text = " ".join(HAYSTACK.read_text(encoding="utf-8").split())
    return tuple(s.strip() for s in re.split(r"(?<=[.;?!])\s+", text) if s.strip())


@cache
def haystack_words(n: int = 200) -> tuple[str, ...]:
    """The ``n`` most frequent lowercase words of the haystack (ties broken alphabetically)."""
    words = re.findall(r"[a-z]+", HAYSTACK.read_text(encoding="utf-8").lower())
    counts = Counter(w for w in words if len(w) > 1)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return tuple(w for w, _ in ranked[:n])


def sample_needles(
    rng: np.random.Generator,
    filler: np.ndarray,
    keys: np.ndarray,
    values: np.ndarray,
    question_id: int,
    n: int,
    context_len: int,
    depths: np.ndarray | None = None,
    n_needles: int = 3,
) -> dict[str, np.ndarray]:
    """``filler`` prompts on token ids: ``context_len`` tokens ending in ``? K``.

    ``n_needles`` needles ``K_i V_i`` with distinct keys and values; the question asks the
    first, which starts at ``round(depth * (context_len - 4))`` (depths uniform in [0, 1] unless
    given); the others are distractors placed elsewhere, so that the answer needs the key.

    Returns:
        ``tokens`` [n context_len], ``value`` (the answer), ``counterfactual`` (a value absent from
        the prompt), ``needle_pos`` (position of the asked ``K``; its value follows it), ``depth``.
    """
    if context_len < 6 * n_needles + 2:
        raise ValueError(f"context_len {context_len} is too short for {n_needles} needles")
    tokens = rng.choice(filler, size=(n, context_len))
    depth = rng.random(n) if depths is None else np.asarray(depths, dtype=float)
    out = {k: np.zeros(n, dtype=np.int64) for k in ("value", "counterfactual", "needle_pos")}
    for i in range(n):
        ks = rng.choice(keys, size=n_needles, replace=False)
        vs = rng.choice(values, size=n_needles + 1, replace=False)
        pos = int(round(depth[i] * (context_len - 4)))
        # Distractors start at least 3 tokens from every other needle and end before the question.
        free = np.array([s for s in range(context_len - 3) if abs(s - pos) >= 3])
        starts = [pos]
        while len(starts) < n_needles:
            ok = free[np.all(np.abs(free[:, None] - np.array(starts)[None]) >= 3, axis=1)]
            starts.append(int(rng.choice(ok)))
        for s, k, v in zip(starts, ks, vs, strict=False):
            tokens[i, s : s + 2] = (k, v)
        tokens[i, -2:] = (question_id, ks[0])
        out["value"][i], out["counterfactual"][i], out["needle_pos"][i] = vs[0], vs[-1], pos
    return out | {"tokens": tokens, "depth": depth}


def _spread(depths: Sequence[float], n: int) -> np.ndarray:
    return np.array([depths[i % len(depths)] for i in range(n)], dtype=float)


def retrieval_task(
    model: HookedModel,
    *,
    context_len: int = 64,
    depths: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
    n_prompts: int = 40,
    form: RetrievalForm = "text",
    keys: Sequence[str] | None = None,
    values: Sequence[str] | None = None,
    filler: Sequence[str] | None = None,
    seed: int = 0,
    metric: MetricName = "logit_diff",
) -> Task:
    """Needle-in-a-haystack prompts of exactly ``context_len`` tokens.

    Args:
        context_len: Tokens per prompt, BOS and question included.
        depths: Needle depths in [0, 1], cycled over the prompts.
        form: ``text``, ``filler`` or ``tokens`` (see the module docstring).
        keys, values: Needle keys and values (defaults :data:`KEYS`, :data:`VALUES`; the ``tokens``
            form draws as many tokens).
        filler: Filler words of the ``filler`` form (default: frequent haystack words).

    Raises:
        ValueError: A prompt longer than the context; a key, value or filler word the
            tokenizer cannot express (one token each in the ``filler`` form); a vocabulary too
            small for the ``tokens`` form.
    """
    keys, values = list(keys or KEYS), list(values or VALUES)
    if any(not 0 <= d <= 1 for d in depths):
        raise ValueError(f"needle depths must lie in [0, 1]; got {list(depths)}")
    bos = bos_ids(model)
    rng = np.random.default_rng(seed)
    depth = _spread(depths, n_prompts)
    if form in ("filler", "tokens"):
        what = "words" if form == "filler" else "tokens"
        check_context(model, context_len, f"<{context_len - len(bos)} filler {what}> ? K")
        if form == "tokens":
            fill, kid, vid, q_id = _vocabulary_needles(model, len(keys), len(values), seed)
        else:
            fill = np.array(word_tokens(model, list(filler or haystack_words()), what="filler word"))
            kid = np.array(word_tokens(model, keys, what="needle key"))
            vid = np.array(word_tokens(model, values, what="needle value"))
            (q_id,) = word_tokens(model, ["?"], what="question word")
        s = sample_needles(rng, fill, kid, vid, q_id, n_prompts, context_len - len(bos), depth)
        corrupted = s["tokens"].copy()
        corrupted[np.arange(n_prompts), s["needle_pos"] + 1] = s["counterfactual"]
        meta = pd.DataFrame(
            {
                "task": "retrieval",
                "form": form,
                "context_len": context_len,
                "depth": depth,
                "needle_pos": s["needle_pos"] + len(bos),
            }
        )
        return make_task(
            "retrieval",
            [bos + r.tolist() for r in s["tokens"]],
            [bos + r.tolist() for r in corrupted],
            s["value"].tolist(),
            s["counterfactual"].tolist(),
            [context_len - 1] * n_prompts,
            meta,
            metric,
        )
    if form != "text":
        raise ValueError(f"unknown retrieval form {form!r}; expected 'text', 'filler' or 'tokens'")
    sentences = haystack_sentences()
    clean, corrupted, answers, wrongs, meta = [], [], [], [], []
    for i in range(n_prompts):
        key, value, other = keys[i % len(keys)], *rng.choice(values, size=2, replace=False)
        needle = f" The secret word of the {key} is {value}."
        question = f" What is the secret word of the {key}? The secret word of the {key} is"
        check_known(model, needle + question)
        needle_ids, question_ids = running_ids(model, needle), running_ids(model, question)
        answer = _first_continuation(model, question, f" {value}")
        wrong = _first_continuation(model, question, f" {other}")
        room = context_len - len(bos) - len(needle_ids) - len(question_ids)
        if room < 1:
            check_context(model, context_len + 1 - room, needle + question)
            raise ValueError(f"context_len {context_len} leaves no room for haystack around {needle!r}")
        check_context(model, context_len, needle + question)
        # Haystack sentences from a random start, token by token, until `room` tokens.
        start, pieces, bounds = int(rng.integers(len(sentences))), [], [0]
        while bounds[-1] < room + len(needle_ids):
            pieces += running_ids(model, " " + sentences[(start + len(bounds) - 1) % len(sentences)])
            bounds.append(len(pieces))
        cut = min(bounds, key=lambda b: abs(b - depth[i] * room)) if depth[i] < 1 else room
        cut = min(cut, room)
        hay = pieces[:room]
        clean.append(bos + hay[:cut] + needle_ids + hay[cut:] + question_ids)
        corrupted.append(bos + pieces[: room + len(needle_ids)] + question_ids)
        answers.append(answer)
        wrongs.append(wrong)
        meta.append(
            {
                "task": "retrieval",
                "form": form,
                "context_len": context_len,
                "depth": depth[i],
                "needle_pos": len(bos) + cut,
                "key": key,
                "value": value,
            }
        )
    return make_task(
        "retrieval", clean, corrupted, answers, wrongs, [context_len - 1] * n_prompts, meta, metric
    )


def _vocabulary_needles(
    model: HookedModel, n_keys: int, n_values: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Filler, key and value tokens and the question token of the ``tokens`` form: disjoint draws
    from the ordinary tokens (as many keys and values as asked, fewer in a small vocabulary)."""
    pool = np.random.default_rng([seed, 2]).permutation(content_ids(model))
    k = min(n_keys, n_values, (len(pool) - 1) // 4)
    if k < 4:  # three needles with distinct keys, and a counterfactual value besides their three
        raise ValueError(
            f"the vocabulary has {len(pool)} ordinary tokens; token needles need at least 17 (keys, "
            "values, a question token and filler, each their own)"
        )
    return pool[2 * k + 1 :], pool[:k], pool[k : 2 * k], int(pool[2 * k])


def _first_continuation(model: HookedModel, prefix: str, continuation: str) -> int:
    """The first token ``continuation`` adds after ``prefix`` when tokenized together."""
    a, b = text_ids(model, prefix), text_ids(model, prefix + continuation)
    if b[: len(a)] != a or len(b) == len(a):
        raise ValueError(f"{continuation!r} does not tokenize as a continuation of {prefix!r}")
    return b[len(a)]


def retrieval_grid(
    model: HookedModel,
    *,
    context_lens: Sequence[int],
    depths: Sequence[float] = tuple(np.linspace(0, 1, 10)),
    n_per_depth: int = 4,
    seed: int = 0,
    **kwargs,
) -> dict[int, Task]:
    """One :func:`retrieval_task` per context length, ``n_per_depth`` prompts at each depth."""
    return {
        n: retrieval_task(
            model, context_len=n, depths=depths, n_prompts=n_per_depth * len(depths), seed=seed + k, **kwargs
        )
        for k, n in enumerate(context_lens)
    }
