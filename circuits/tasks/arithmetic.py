"""Arithmetic: multi-digit addition and subtraction with counterfactual operands.

Prompts are written digit by digit, ``a1 a2 a3 + b1 b2 b3 = c1 c2 c3 c4``, each digit
and operator one token, all with a leading space where the tokenizer has every one so
(GPT-2's ``" 3"``), else all bare (``"352+417=0769"`` where digits are split bare, as in
SmolLM2 and llama2.c); only the operators the task uses are looked up. The
result is zero-padded to a fixed width (``n_digits + 1`` for addition, ``n_digits`` for
subtraction, where ``a >= b``). The metric reads one result digit per prompt: the
position of the digit before it (``=`` for the first), earlier result digits given.
The corrupted prompt has counterfactual operands (Zhang et al. 2024) chosen so that the
digit asked for changes; that digit is the wrong answer. The model solves those too, so the
task's negatives (prompts it cannot complete) are the clean prompts with every operand digit
replaced by one word, the same in all of them, as greater-than's negatives fix the start year
at 01 (O'Neill & Bui). Metadata records operands, operator and which digit is asked.

:func:`sample_arithmetic` works on token ids and is shared with zoo training.

Example:
    >>> rng = np.random.default_rng(0)
    >>> s = sample_arithmetic(rng, np.arange(10), 10, 11, 12, n=2, n_digits=2)
    >>> s["tokens"].shape
    (2, 9)
"""

from typing import Literal

import numpy as np
import pandas as pd

from circuits.tasks.base import MetricName, Task, make_task
from circuits.tasks.tokens import bos_ids, check_context, content_ids, token_spellings, word_tokens
from interp import HookedModel

Operation = Literal["add", "sub", "mixed"]
"""``add``: a + b. ``sub``: a - b with a >= b. ``mixed``: either, half each."""

OPERATORS: dict[str, tuple[str, ...]] = {"add": ("+",), "sub": ("-",), "mixed": ("+", "-")}
"""The operators each operation writes (besides ``=``)."""


def _digits(x: np.ndarray, width: int) -> np.ndarray:
    return np.stack([(x // 10 ** (width - 1 - k)) % 10 for k in range(width)], axis=-1)


def sample_arithmetic(
    rng: np.random.Generator,
    digit_ids: np.ndarray,
    plus: int,
    minus: int,
    equals: int,
    *,
    n: int,
    n_digits: int = 3,
    operation: Operation = "add",
) -> dict[str, np.ndarray]:
    """Problems on token ids, with a counterfactual problem each.

    Returns:
        ``tokens`` and ``corrupted`` [n 2*n_digits+2+width], ``a``, ``b``, ``op`` (0 add, 1 sub),
        ``digit`` (index of the result digit asked), ``pos`` (metric position), ``answer`` and
        ``wrong`` (token ids), ``width`` (result digits).
    """
    width = n_digits + 1
    hi = 10**n_digits

    def draw(size):
        a, b = rng.integers(0, hi, size), rng.integers(0, hi, size)
        op = {"add": np.zeros(size, int), "sub": np.ones(size, int)}.get(operation, rng.integers(0, 2, size))
        if operation not in ("add", "sub", "mixed"):
            raise ValueError(f"unknown operation {operation!r}; expected 'add', 'sub' or 'mixed'")
        a, b = np.where(op == 1, np.maximum(a, b), a), np.where(op == 1, np.minimum(a, b), b)
        return a, b, op, np.where(op == 1, a - b, a + b)

    a, b, op, c = draw(n)
    # The leading digit of a difference is always 0: never ask for it.
    digit = rng.integers(np.where(op == 1, 1, 0), width)
    cd = _digits(c, width)
    # Counterfactual operands: redraw until the asked digit differs (same operator).
    a2, b2, c2 = a.copy(), b.copy(), c.copy()
    todo = np.ones(n, bool)
    for _ in range(100):
        if not todo.any():
            break
        x, y, _, z = draw(n)
        x, y = np.where(op == 1, np.maximum(x, y), x), np.where(op == 1, np.minimum(x, y), y)
        z = np.where(op == 1, x - y, x + y)
        ok = todo & (_digits(z, width)[np.arange(n), digit] != cd[np.arange(n), digit])
        a2[ok], b2[ok], c2[ok] = x[ok], y[ok], z[ok]
        todo &= ~ok

    def encode(a, b, c):
        ops = np.where(op == 1, minus, plus)[:, None]
        parts = [_digits(a, n_digits), None, _digits(b, n_digits), None, _digits(c, width)]
        ids = [digit_ids[parts[0]], ops, digit_ids[parts[2]], np.full((n, 1), equals), digit_ids[parts[4]]]
        return np.concatenate(ids, axis=1)

    tokens, corrupted = encode(a, b, c), encode(a2, b2, c2)
    pos = 2 * n_digits + 1 + digit
    idx = np.arange(n)
    return {
        "tokens": tokens,
        "corrupted": corrupted,
        "a": a,
        "b": b,
        "op": op,
        "digit": digit,
        "pos": pos,
        "answer": tokens[idx, pos + 1],
        "wrong": corrupted[idx, pos + 1],
        "width": np.full(n, width),
    }


def arithmetic_task(
    model: HookedModel,
    *,
    n_prompts: int = 64,
    n_digits: int = 3,
    operation: Operation = "add",
    seed: int = 0,
    metric: MetricName = "logit_diff",
) -> Task:
    """Digit-by-digit addition or subtraction prompts for ``model``.

    Raises:
        ValueError: A digit, or an operator the task uses (``-`` only for subtraction), that the
            tokenizer cannot write as one token (named); an unknown operation; or a prompt longer than
            the context.
    """
    if operation not in OPERATORS:
        raise ValueError(f"unknown operation {operation!r}; expected one of {list(OPERATORS)}")
    operators = [*OPERATORS[operation], "="]
    ids = word_tokens(
        model, [*map(str, range(10)), *operators], what=["digit"] * 10 + ["operator"] * len(operators)
    )
    digits, symbol = np.array(ids[:10]), dict(zip(operators, ids[10:], strict=True))
    # An operator the task does not use is never written; its id only fills the sampler's slot.
    plus, minus, equals = symbol.get("+", symbol.get("-")), symbol.get("-", symbol.get("+")), symbol["="]
    bos = bos_ids(model)
    check_context(model, len(bos) + 3 * n_digits + 3, f"<{n_digits}-digit operands> = <result>")
    s = sample_arithmetic(
        np.random.default_rng(seed),
        digits,
        plus,
        minus,
        equals,
        n=n_prompts,
        n_digits=n_digits,
        operation=operation,
    )
    # Negatives (prompts the model cannot complete): every operand digit replaced by one word, drawn from
    # a generator of its own so that the prompts above do not depend on it. Like greater-than's YY=01 the
    # replacement is fixed: the negatives differ from the positives only in having no operands. A word
    # drawn per digit would vary token identity far more than ten digits do, and the SAE finder's codes
    # follow token identity: on the organism, three of its arithmetic heads then showed 11-29 codes in
    # negatives against 2 in positives, none of them unique to positives.
    symbols = [t for op in ("+", "-", "=") for t in token_spellings(model, op)]  # used or not
    words = content_ids(model, exclude=[*ids, *symbols])
    negatives = s["tokens"].copy()
    operand_columns = [*range(n_digits), *range(n_digits + 1, 2 * n_digits + 1)]
    negatives[:, operand_columns] = np.random.default_rng([seed, 1]).choice(words)
    meta = pd.DataFrame(
        {
            "task": "arithmetic",
            "a": s["a"],
            "b": s["b"],
            "op": np.where(s["op"] == 1, "-", "+"),
            "digit": s["digit"],
        }
    )
    return make_task(
        "arithmetic",
        [bos + r.tolist() for r in s["tokens"]],
        [bos + r.tolist() for r in s["corrupted"]],
        s["answer"].tolist(),
        s["wrong"].tolist(),
        (s["pos"] + len(bos)).tolist(),
        meta,
        metric,
        negatives=[bos + r.tolist() for r in negatives],
    )
