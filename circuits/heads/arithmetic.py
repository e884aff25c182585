"""Arithmetic heads (Zhang et al. 2024, "Interpreting and Improving Large Language Models in Arithmetic
Calculation").

Two numbers per head, as the paper reads them:

- **attention**: the attention the answer position pays to the operand and
  operator tokens (averaged over prompts), the heads' observable signature;
- **patching**: the causal effect of the head, measured by patching its output
  (``hook_z``, every position) from a prompt with counterfactual operands into
  the clean prompt, as the share of the clean-vs-counterfactual change in the
  answer's probability it moves (the effect measure of Stolfo et al. 2023):
  ``(M_clean − M_patched) / (M_clean − M_counterfactual)``, with ``M`` the
  probability of the answer (``metric="prob"``) or the logit difference
  ``logit[answer] − logit[counterfactual answer]`` (``metric="logit_diff"``).

The probability sees every way the answer can be lost. A head that carries the
carry makes the model write a neighbouring digit when it is patched; the logit
difference against the counterfactual answer, a digit drawn at random, mostly
misses that.

A head is an arithmetic head when it does both, as the paper describes them:
its patching effect exceeds the threshold and the answer position attends to
the operands through it (at least :data:`ATTENTION_MIN`). A head that matters
without looking at the operands (it moves something else the answer needs) is
causal evidence but not an arithmetic head; the ``patching`` and ``attention``
columns keep both numbers.

The paper's answers are single tokens. A multi-digit answer is written digit by
digit, and a model may give each result digit its own heads: a head that moves
the units digit shows its effect only on the prompts asking for the units digit,
and the average over every prompt dilutes it by the number of digits. With
``groups`` (on a task: the result digit each prompt asks), the effect is measured
within each group, normalised by that group's own clean-vs-counterfactual change, and the score
is the largest of these (column ``group``: where); ``patching`` keeps the effect
over all prompts and ``patching_<group>`` each group's. A group whose clean prompts
the model gets wrong on average (it prefers the counterfactual answer) is left
out: a small or negative denominator would inflate the normalised effects.

Example:
    >>> import torch
    >>> from interp.testing import tiny_model
    >>> model = tiny_model("gpt2")
    >>> clean, counter = torch.randint(4, 64, (2, 2, 6))
    >>> answers, wrong = torch.tensor([5, 6]), torch.tensor([7, 8])
    >>> ops = torch.tensor([[1, 3], [1, 3]])
    >>> s = find_arithmetic_heads(model, clean, counter, answers, wrong, ops)
    >>> {"attention", "patching"} <= set(s.df.columns)
    True
"""

from collections.abc import Sequence
from typing import Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor

from circuits.heads.induction import attention_patterns
from circuits.heads.scores import HeadScores
from circuits.tasks.tokens import token_spellings
from interp import HookedModel
from interp.engine.patches import hook_name

ARITHMETIC_THRESHOLD = 0.1
"""A head is an arithmetic head when patching it moves more than 10% of the logit difference."""

ATTENTION_MIN = 0.3
"""...and when the answer position pays at least this much attention to the operand and operator tokens."""


def attention_to_positions(
    model: HookedModel,
    tokens: Int[Tensor, "batch pos"],
    key_positions: Int[Tensor, "batch k"],
    query_positions: Int[Tensor, " batch"] | None = None,
) -> Float[Tensor, "layer head"]:
    """Attention mass from each prompt's query position (default: last) to its key positions, averaged."""
    tokens = model.check_tokens(tokens)
    n = tokens.shape[1]
    key_positions = torch.as_tensor(key_positions)
    if key_positions.ndim != 2 or key_positions.shape[0] != tokens.shape[0]:
        raise ValueError(
            f"key positions must be [batch, k] with batch {tokens.shape[0]}; got {tuple(key_positions.shape)}"
        )
    if bool((key_positions < 0).any()) or bool((key_positions >= n).any()):
        raise ValueError(f"key positions {key_positions.tolist()} out of range; expected 0 <= pos < {n}")
    if query_positions is None:
        query_positions = torch.full((tokens.shape[0],), n - 1)
    patterns = attention_patterns(model, tokens)  # [batch layer head q k]
    rows = patterns[torch.arange(tokens.shape[0]), :, :, query_positions.cpu()]  # [batch layer head k]
    index = key_positions.cpu()[:, None, None, :].expand(-1, rows.shape[1], rows.shape[2], -1)
    return rows.gather(-1, index).sum(-1).mean(0)


def _at(
    logits: Float[Tensor, "batch pos d_vocab"], positions: Tensor | None
) -> Float[Tensor, "batch d_vocab"]:
    """The logits at each prompt's position (default: the last)."""
    if positions is None:
        return logits[:, -1]
    return logits[torch.arange(logits.shape[0]), torch.as_tensor(positions).cpu()]


def logit_difference(
    logits: Float[Tensor, "batch pos d_vocab"],
    answers: Int[Tensor, " batch"],
    wrong: Int[Tensor, " batch"],
    positions: Int[Tensor, " batch"] | None = None,
) -> Float[Tensor, " batch"]:
    """``logit[answer] − logit[wrong]`` at each prompt's position (default: the last)."""
    at, rows = _at(logits, positions), torch.arange(logits.shape[0])
    return at[rows, answers] - at[rows, wrong]


def answer_probability(
    logits: Float[Tensor, "batch pos d_vocab"],
    answers: Int[Tensor, " batch"],
    positions: Int[Tensor, " batch"] | None = None,
) -> Float[Tensor, " batch"]:
    """Probability of each prompt's answer at its position (default: the last)."""
    return _at(logits, positions).float().softmax(-1)[torch.arange(logits.shape[0]), answers]


PatchingMetric = Literal["prob", "logit_diff"]
"""``prob``: probability of the answer. ``logit_diff``: answer logit minus counterfactual-answer logit."""


def _check_metric(metric: str) -> None:
    if metric not in ("prob", "logit_diff"):
        raise ValueError(f"unknown patching metric {metric!r}; expected 'prob' or 'logit_diff'")


def _measure(logits, answers, wrong, positions, metric: PatchingMetric) -> Tensor:
    if metric == "prob":
        return answer_probability(logits, answers, positions)
    return logit_difference(logits, answers, wrong, positions)


@torch.no_grad()
def head_patching_effects(
    model: HookedModel,
    clean: Int[Tensor, "batch pos"],
    counterfactual: Int[Tensor, "batch pos"],
    answers: Int[Tensor, " batch"],
    wrong: Int[Tensor, " batch"],
    positions: Int[Tensor, " batch"] | None = None,
    metric: PatchingMetric = "prob",
) -> Float[Tensor, "layer head"]:
    """Normalised drop in ``metric`` when each head's output comes from the counterfactual run.

    A plain hook loop, one clean forward pass per head: the slow twin of
    :func:`find_arithmetic_heads`'s batched engine sweep.
    """
    _check_metric(metric)
    clean, counterfactual = model.check_tokens(clean), model.check_tokens(counterfactual)
    if clean.shape != counterfactual.shape:
        raise ValueError(
            f"clean and counterfactual prompts must have the same shape; got {tuple(clean.shape)} "
            f"and {tuple(counterfactual.shape)}"
        )
    names = [hook_name(layer, "z") for layer in range(model.n_layers)]
    counter_logits, cache = model.run_with_cache(counterfactual, names_filter=names)
    m_clean = _measure(model.run(clean), answers, wrong, positions, metric).mean()
    m_counter = _measure(counter_logits, answers, wrong, positions, metric).mean()
    denominator = m_clean - m_counter
    if denominator.abs() < 1e-6:
        raise ValueError(_UNCHANGED)
    effects = torch.zeros(model.n_layers, model.n_heads)
    for layer, name in enumerate(names):
        for head in range(model.n_heads):

            def patch(z: Tensor, hook, head: int = head, name: str = name) -> Tensor:
                z = z.clone()
                z[:, :, head] = cache[name][:, :, head]
                return z

            logits = model.run_with_hooks(clean, fwd_hooks=[(name, patch)])
            patched = _measure(logits, answers, wrong, positions, metric).mean()
            effects[layer, head] = (m_clean - patched) / denominator
    return effects


_UNCHANGED = (
    "the counterfactual operands do not change the answer's probability or logit difference; "
    "the model does not solve this task, so patching effects would be meaningless"
)


def patching_effects(
    model: HookedModel,
    clean: Int[Tensor, "batch pos"],
    counterfactual: Int[Tensor, "batch pos"],
    answers: Int[Tensor, " batch"],
    wrong: Int[Tensor, " batch"],
    positions: Int[Tensor, " batch"] | None = None,
    metric: PatchingMetric = "prob",
) -> Float[Tensor, "layer head"]:
    """The same numbers as :func:`head_patching_effects`, from one batched engine sweep (noising)."""
    from circuits.activation_patching import activation_patching
    from interp.engine import answer_prob, logit_diff

    _check_metric(metric)
    clean, counterfactual = model.check_tokens(clean), model.check_tokens(counterfactual)
    where = torch.full((clean.shape[0], 1), clean.shape[1] - 1) if positions is None else positions[:, None]
    measure = answer_prob(answers, where) if metric == "prob" else logit_diff(answers, wrong, where)
    result = activation_patching(
        model, clean, counterfactual, measure, site="z", direction="noising", progress=False
    )
    if abs(result.target - result.baseline) < 1e-6:
        raise ValueError(_UNCHANGED)
    return result.normalized().float().cpu()


def find_arithmetic_heads(
    model: HookedModel,
    clean: Int[Tensor, "batch pos"],
    counterfactual: Int[Tensor, "batch pos"],
    answers: Int[Tensor, " batch"],
    wrong: Int[Tensor, " batch"],
    operand_positions: Int[Tensor, "batch k"],
    *,
    positions: Int[Tensor, " batch"] | None = None,
    groups: Sequence[str] | None = None,
    metric: PatchingMetric = "prob",
    threshold: float = ARITHMETIC_THRESHOLD,
    attention_min: float = ATTENTION_MIN,
) -> HeadScores:
    """Score every head as an arithmetic head: patching effect (the score) and attention to operands.

    Args:
        clean: Prompts; the answer is predicted at ``positions`` (default: the last).
        counterfactual: The same prompts with other operands.
        answers: The clean answer token; ``wrong``: the counterfactual answer token.
        operand_positions: Positions of the operand and operator tokens in each clean prompt.
        groups: A label per prompt (such as the result digit asked); the score is then the largest
            effect within a group (see the module docstring). Default: one group.
        metric: What the patching effect is a share of (see the module docstring).
        attention_min: Least attention from the answer position to ``operand_positions``.

    Raises:
        ValueError: ``groups`` of the wrong length, or a group whose counterfactuals do not change
            the answer (named).
    """
    if groups is not None and len(groups) != clean.shape[0]:
        raise ValueError(f"groups has {len(groups)} labels; expected one per prompt ({clean.shape[0]})")
    effects = patching_effects(model, clean, counterfactual, answers, wrong, positions, metric)
    attention = attention_to_positions(model, clean, operand_positions, positions)
    evidence = {"patching": effects, "attention": attention}
    score, where = effects, None
    if groups is not None:
        score, where, by_group = _grouped_effects(
            model, clean, counterfactual, answers, wrong, positions, list(groups), metric
        )
        evidence |= {f"patching_{label}": grid for label, grid in by_group.items()}
    scores = HeadScores.from_grid("arithmetic", score, threshold, evidence)
    if where is not None:
        scores.df.insert(scores.df.columns.get_loc("patching"), "group", where)
    attention = scores.df["attention"]
    scores.reject(
        attention < attention_min, [f"attention to operands {a:.2f} < {attention_min:g}" for a in attention]
    )
    return scores


def _grouped_effects(
    model, clean, counterfactual, answers, wrong, positions, groups: list[str], metric: PatchingMetric
):
    """Per group, :func:`patching_effects` on its prompts; the largest per head, its group, and all."""
    with torch.no_grad():  # one clean pass tells which groups the model solves
        solved = logit_difference(model.run(clean), answers, wrong, positions)
    labels = sorted({str(g) for g in groups})
    by_group: dict[str, Tensor] = {}
    for label in labels:
        rows = torch.tensor([str(g) == label for g in groups])
        if solved[rows].mean() <= 0:  # the model prefers the wrong answer: no effect to share out
            continue
        at = None if positions is None else positions[rows]
        try:
            by_group[label] = patching_effects(
                model,
                clean[rows],
                counterfactual[rows],
                answers[rows],
                wrong[rows],
                at,
                metric,
            )
        except ValueError as err:
            raise ValueError(f"group {label!r}: {err}") from err
    if not by_group:
        raise ValueError(
            f"the model prefers the counterfactual answer in every group {labels}; "
            "it does not solve this task"
        )
    kept = list(by_group)
    best = torch.stack([by_group[label] for label in kept]).max(0)  # over [group layer head]
    return best.values, [kept[i] for i in best.indices.flatten().tolist()], by_group


def find_arithmetic_heads_for_task(
    model: HookedModel,
    task,
    *,
    threshold: float = ARITHMETIC_THRESHOLD,
    by_digit: bool = True,
    metric: PatchingMetric = "prob",
) -> HeadScores:
    """Arithmetic heads on an arithmetic task: operands and operator are the tokens before ``=``.

    Args:
        by_digit: Score each head by its largest effect over the result digits the prompts ask
            (groups ``digit0``, ``digit1``...; see the module docstring), rather than over all
            prompts at once. A task without a ``digit`` column in its metadata, or asking one digit
            in every prompt, is scored over all prompts.
    """
    equals = token_spellings(model, "=")  # " =" or "=", whichever the task was written with
    clean = task.clean_tokens
    is_equals = torch.isin(clean, torch.tensor(equals, dtype=clean.dtype, device=clean.device))
    if not bool(is_equals.any(-1).all()):
        raise ValueError(
            f"every arithmetic prompt needs an '=' token (one of {equals}) after its operands; "
            f"{int((~is_equals.any(-1)).sum())} of {len(clean)} prompts have none"
        )
    if {"operand_start", "operand_end"} <= set(task.metadata.columns):  # few-shot: the problem's own
        start_at = torch.tensor(task.metadata["operand_start"].to_numpy(copy=True))
        end_at = torch.tensor(task.metadata["operand_end"].to_numpy(copy=True))
        operand_positions = start_at[:, None] + torch.arange(int((end_at - start_at).min()))[None]
    else:  # the operands start the prompt (after BOS) and end at its first '='
        first_equals = is_equals.float().argmax(-1)
        bos = model.tokenizer.bos_token_id
        start = 1 if bos is not None and bool((clean[:, 0] == bos).all()) else 0
        width = int(first_equals.min()) - start
        operand_positions = start + torch.arange(width)[None].expand(clean.shape[0], -1)
    digits = task.metadata["digit"] if "digit" in task.metadata else None
    # One result digit asked in every prompt is one group: the same as scoring all prompts at once.
    by_digit = by_digit and digits is not None and digits.nunique() > 1
    return find_arithmetic_heads(
        model,
        clean,
        task.corrupted_tokens,
        task.answer_tokens,
        task.wrong_tokens,
        operand_positions,
        positions=task.positions,
        groups=[f"digit{d}" for d in digits] if by_digit else None,
        metric=metric,
        threshold=threshold,
    )
