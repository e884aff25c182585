"""Induction: random tokens with a span repeated at a random period.

Olsson et al. 2022 ("In-context Learning and Induction Heads") test induction on
sequences of random tokens repeated; here one span of ``span`` tokens is repeated
after a random period (offset and period drawn per prompt, so a model cannot
solve it by position). The metric reads a position inside the second copy; the
answer is the token that followed the current token in the first copy. The
corrupted prompt is a fresh random sequence (nothing repeats); the wrong answer is
a random token absent from the clean prompt.

:func:`sample_induction` works on token ids and is shared with zoo training.

Example:
    >>> from interp.testing import tiny_model
    >>> task = induction_task(tiny_model("gpt2"), n_prompts=4, seq_len=20, seed=0)
    >>> tuple(task.clean_tokens.shape), task.name
    ((4, 21), 'induction')
"""

import numpy as np
import pandas as pd

from circuits.tasks.base import MetricName, Task, make_task
from circuits.tasks.tokens import bos_ids, check_context, content_ids, word_tokens
from interp import HookedModel


def sample_induction(
    rng: np.random.Generator,
    pool: np.ndarray,
    n: int,
    seq_len: int,
    span: tuple[int, int] = (3, 10),
    spread: float = 0.0,
) -> dict[str, np.ndarray]:
    """Random sequences of ``seq_len`` tokens from ``pool`` with one span repeated.

    Each prompt draws its span's length, then where the two copies go. By default the period comes
    first, then the offset; long periods push the first copy to the start, so first copies seldom
    reach past the middle of the sequence, and a previous-token head that serves induction there
    need not work later on. A share ``spread`` of the prompts instead draws the first copy's start
    first (uniform over every start that leaves room for the second copy), then the period, so that
    first copies reach further into the context.

    Returns:
        A dict of arrays: ``tokens`` [n seq_len], ``offset`` (start of the first copy), ``span``
        (its length), ``period`` (distance to the second copy), ``pos`` (a metric position inside
        the second copy, not its last token), ``answer`` (token at ``pos + 1``) and ``mask``
        [n seq_len], True where the next token is predictable from the first copy.
    """
    lo, hi = span
    if not 0.0 <= spread <= 1.0:
        raise ValueError(f"spread {spread} is not a share of prompts; expected 0 <= spread <= 1")
    if lo < 2 or hi < lo or 2 * lo > seq_len:
        raise ValueError(
            f"span {span} cannot repeat inside {seq_len} tokens; expected 2 <= lo <= hi <= len/2"
        )
    if len(pool) < 2 * hi + 2:
        raise ValueError(f"a pool of {len(pool)} tokens is too small for spans of {hi}")
    tokens = rng.choice(pool, size=(n, seq_len))
    out = {k: np.zeros(n, dtype=np.int64) for k in ("offset", "span", "period", "pos", "answer")}
    mask = np.zeros((n, seq_len), dtype=bool)
    for i in range(n):
        length = int(rng.integers(lo, min(hi, seq_len // 2) + 1))
        if spread > 0 and rng.random() < spread:
            offset = int(rng.integers(0, seq_len - 2 * length + 1))
            period = int(rng.integers(length, seq_len - length - offset + 1))
        else:
            period = int(rng.integers(length, seq_len - length + 1))
            offset = int(rng.integers(0, seq_len - period - length + 1))
        # Distinct tokens in the span, so that each current token has one earlier occurrence there.
        tokens[i, offset : offset + length] = rng.choice(pool, size=length, replace=False)
        tokens[i, offset + period : offset + period + length] = tokens[i, offset : offset + length]
        k = int(rng.integers(0, length - 1))
        out["offset"][i], out["span"][i], out["period"][i] = offset, length, period
        out["pos"][i] = offset + period + k
        out["answer"][i] = tokens[i, offset + period + k + 1]
        mask[i, offset + period : offset + period + length - 1] = True
    return out | {"tokens": tokens, "mask": mask}


def induction_task(
    model: HookedModel,
    *,
    n_prompts: int = 64,
    seq_len: int = 24,
    span: tuple[int, int] = (3, 8),
    vocab: list[str] | None = None,
    seed: int = 0,
    metric: MetricName = "logit_diff",
    spread: float = 0.0,
) -> Task:
    """Induction prompts for ``model``.

    Args:
        model: Its tokenizer decides the vocabulary and BOS.
        n_prompts: Number of prompts.
        seq_len: Tokens per prompt after BOS.
        span: Smallest and largest length of the repeated span.
        vocab: Words to draw tokens from (each must be one token); default every ordinary token.
        seed: Seed of the sampler.
        metric: The default metric.
        spread: Share of prompts whose first copy's start is drawn first (see :func:`sample_induction`).

    Raises:
        ValueError: A word of ``vocab`` that is not one token, or prompts longer than the context.
    """
    bos = bos_ids(model)
    check_context(model, len(bos) + seq_len, f"<{seq_len} random tokens>")
    pool = np.array(word_tokens(model, vocab, what="induction vocabulary")) if vocab else content_ids(model)
    rng = np.random.default_rng(seed)
    s = sample_induction(rng, pool, n_prompts, seq_len, span, spread)
    corrupted = rng.choice(pool, size=s["tokens"].shape)
    wrong = []
    for row in s["tokens"]:
        present = set(row.tolist())
        candidates = [t for t in rng.choice(pool, size=64).tolist() if t not in present]
        wrong.append(candidates[0])
    meta = pd.DataFrame(
        {k: s[k] + (len(bos) if k in ("offset", "pos") else 0) for k in ("offset", "span", "period", "pos")}
    )
    meta.insert(0, "task", "induction")
    return make_task(
        "induction",
        [bos + r.tolist() for r in s["tokens"]],
        [bos + r.tolist() for r in corrupted],
        s["answer"].tolist(),
        wrong,
        (s["pos"] + len(bos)).tolist(),
        meta,
        metric,
    )
