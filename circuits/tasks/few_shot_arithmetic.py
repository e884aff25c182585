r"""Few-shot arithmetic as text: solved examples, one per line, then a problem whose answer is asked.

``"3 + 5 = 8\n1 + 2 = 3\n4 + 7 ="`` (with ``shots=2``): the form a pretrained model meets in
text, for models that do not solve :func:`circuits.tasks.arithmetic.arithmetic_task`'s digit-by-digit,
zero-padded prompts. The metric reads the first token of the result, as the model writes it after
the ``=`` (GPT-2's ``" 1"``; SmolLM2 writes a space token first, which the prompt then ends with).
The examples are the same in a prompt and its corrupted twin; the corrupted problem has other
operands of the same width, chosen so that the result's first digit changes (Zhang et al.'s
counterfactual operands), and that digit is the wrong answer. Example results have ``n_digits``
digits, so every prompt of a task has one length. Metadata records the operands, the examples and
the problem's operand positions (``operand_start``, ``operand_end``: operands and operator).

Example:
    >>> from interp.testing import piece_tokenizer, tiny_model_with
    >>> digits = [str(d) for d in range(10)]
    >>> tok = piece_tokenizer([*digits, *("\u2581" + d for d in digits), "\u2581+", "\u2581=", "\n"])
    >>> task = few_shot_arithmetic_task(tiny_model_with(tok), n_prompts=2, shots=2, seed=0)
    >>> tok.decode(task.clean_tokens[0], skip_special_tokens=True)
    '5 + 2 = 7\n3 + 0 = 3\n0 + 0 ='
    >>> tok.decode(task.answer_tokens[:1]), int(task.metadata["operand_start"].iloc[0])
    ('0', 13)
"""

import numpy as np
import pandas as pd

from circuits.tasks.base import MetricName, Task, make_task
from circuits.tasks.tokens import bos_ids, check_context, text_ids
from interp import HookedModel

OPERATIONS = {"add": "+", "sub": "-"}
"""Operations and the operator each writes."""


def _problem(rng: np.random.Generator, n_digits: int, op: str, *, example: bool) -> tuple[int, int, int]:
    """Operands of exactly ``n_digits`` digits (one digit: 0-9); an example's result has as many."""
    lo, hi = (0 if n_digits == 1 else 10 ** (n_digits - 1)), 10**n_digits
    for _ in range(1000):
        a, b = int(rng.integers(lo, hi)), int(rng.integers(lo, hi))
        if op == "-" and a < b:
            a, b = b, a
        c = a + b if op == "+" else a - b
        if not example or lo <= c < hi:
            return a, b, c
    raise ValueError(f"no {n_digits}-digit example with a {n_digits}-digit result for {op!r}")


def few_shot_arithmetic_task(
    model: HookedModel,
    *,
    n_prompts: int = 64,
    n_digits: int = 1,
    shots: int = 3,
    operation: str = "add",
    seed: int = 0,
    metric: MetricName = "logit_diff",
) -> Task:
    """Few-shot addition or subtraction prompts for ``model`` (module docstring).

    Raises:
        ValueError: An unknown operation, a count out of range, prompts of different token lengths
            (numbers the tokenizer merges unevenly), a result digit that is not one token after
            ``=``, or prompts longer than the context.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}; expected one of {list(OPERATIONS)}")
    if n_digits < 1 or shots < 0 or n_prompts < 1:
        raise ValueError(
            f"expected n_digits >= 1, shots >= 0 and n_prompts >= 1; got {n_digits}, {shots}, {n_prompts}"
        )
    op = OPERATIONS[operation]
    rng = np.random.default_rng(seed)
    bos = bos_ids(model)
    clean, corrupted, answers, wrongs, positions, rows = [], [], [], [], [], []
    for _ in range(n_prompts):
        examples = [_problem(rng, n_digits, op, example=True) for _ in range(shots)]
        a, b, c = _problem(rng, n_digits, op, example=False)
        for _ in range(1000):
            a2, b2, c2 = _problem(rng, n_digits, op, example=False)
            if str(c2)[0] != str(c)[0]:
                break
        context = "".join(f"{x} {op} {y} = {z}\n" for x, y, z in examples)
        prompt, answer = _encode(model, f"{context}{a} {op} {b} =", c)
        twin, wrong = _encode(model, f"{context}{a2} {op} {b2} =", c2)
        head = text_ids(model, context) if context else []
        if prompt[: len(head)] != head:
            raise ValueError(f"the examples {context!r} do not tokenize as the start of their prompt")
        start = len(bos) + len(head)
        clean.append(bos + prompt)
        corrupted.append(bos + twin)
        answers.append(answer)
        wrongs.append(wrong)
        positions.append(len(bos) + len(prompt) - 1)
        operands = len(text_ids(model, context + f"{a} {op} {b}")) - len(head)
        rows.append(
            {
                "task": "arithmetic",
                "a": a,
                "b": b,
                "op": op,
                "digit": 0,
                "shots": shots,
                "examples": "; ".join(f"{x}{op}{y}={z}" for x, y, z in examples),
                "operand_start": start,
                "operand_end": start + operands,
            }
        )
    lengths = sorted({len(p) for p in clean + corrupted})
    if len(lengths) > 1:
        raise ValueError(
            f"{n_digits}-digit few-shot prompts tokenize to different lengths {lengths}; expected one "
            "(this tokenizer merges digits unevenly: try n_digits=1)"
        )
    check_context(model, lengths[0], f"<{shots} examples> <{n_digits}-digit problem>")
    return make_task("arithmetic", clean, corrupted, answers, wrongs, positions, pd.DataFrame(rows), metric)


def _encode(model: HookedModel, op_text: str, c: int) -> tuple[list[int], int]:
    """The ids of ``op_text`` (up to its ``=``) and of the result's first token, as running text
    writes them."""
    prompt, full = text_ids(model, op_text), text_ids(model, f"{op_text} {c}")
    if full[: len(prompt)] != prompt or len(full) <= len(prompt):
        raise ValueError(f"{op_text!r} does not tokenize as the start of {op_text + ' ' + str(c)!r}")
    rest = full[len(prompt) :]
    if not model.tokenizer.decode([rest[0]]).strip() and len(rest) > 1:  # a space token of its own
        prompt, rest = prompt + rest[:1], rest[1:]
    if model.tokenizer.decode([rest[0]]).strip() != str(c)[0]:
        raise ValueError(
            f"the result {c} after {op_text!r} does not start with its first digit as one token "
            f"(it starts with {model.tokenizer.decode([rest[0]])!r})"
        )
    return prompt, rest[0]
