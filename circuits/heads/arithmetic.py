"""Arithmetic heads (Zhang et al. 2024, "Interpreting and Improving Large Language Models in Arithmetic
Calculation").

Two numbers per head, as the paper reads them:

- **attention**: the attention the answer position pays to the operand and
  operator tokens (averaged over prompts), the heads' observable signature;
- **patching**: the causal effect of the head, measured by patching its output
  (``hook_z``, every position) from a prompt with counterfactual operands into
  the clean prompt, as the share of the clean-vs-counterfactual logit
  difference it moves:
  ``(LD_clean − LD_patched) / (LD_clean − LD_counterfactual)``, with
  ``LD = logit[answer] − logit[counterfactual answer]``.

A head is an arithmetic head when it does both, as the paper describes them:
its patching effect exceeds the threshold and the answer position attends to
the operands through it (at least :data:`ATTENTION_MIN`). A head that matters
without looking at the operands (it moves something else the answer needs) is
causal evidence but not an arithmetic head; the ``patching`` and ``attention``
columns keep both numbers.

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

import torch
from jaxtyping import Float, Int
from torch import Tensor

from circuits.heads.induction import attention_patterns
from circuits.heads.scores import HeadScores
from interp import HookedModel

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


def logit_difference(
    logits: Float[Tensor, "batch pos d_vocab"],
    answers: Int[Tensor, " batch"],
    wrong: Int[Tensor, " batch"],
    positions: Int[Tensor, " batch"] | None = None,
) -> Float[Tensor, " batch"]:
    """``logit[answer] − logit[wrong]`` at each prompt's position (default: the last)."""
    rows = torch.arange(logits.shape[0])
    at = logits[:, -1] if positions is None else logits[rows, torch.as_tensor(positions).cpu()]
    return at[rows, answers] - at[rows, wrong]


@torch.no_grad()
def head_patching_effects(
    model: HookedModel,
    clean: Int[Tensor, "batch pos"],
    counterfactual: Int[Tensor, "batch pos"],
    answers: Int[Tensor, " batch"],
    wrong: Int[Tensor, " batch"],
    positions: Int[Tensor, " batch"] | None = None,
) -> Float[Tensor, "layer head"]:
    """Normalised drop in logit difference when each head's output comes from the counterfactual run.

    A plain hook loop, one clean forward pass per head: the slow twin of
    :func:`find_arithmetic_heads`'s batched engine sweep.
    """
    clean, counterfactual = model.check_tokens(clean), model.check_tokens(counterfactual)
    if clean.shape != counterfactual.shape:
        raise ValueError(
            f"clean and counterfactual prompts must have the same shape; got {tuple(clean.shape)} "
            f"and {tuple(counterfactual.shape)}"
        )
    names = [f"blocks.{layer}.attn.hook_z" for layer in range(model.n_layers)]
    counter_logits, cache = model.run_with_cache(counterfactual, names_filter=names)
    ld_clean = logit_difference(model.run(clean), answers, wrong, positions).mean()
    ld_counter = logit_difference(counter_logits, answers, wrong, positions).mean()
    denominator = ld_clean - ld_counter
    if denominator.abs() < 1e-6:
        raise ValueError(
            "the counterfactual operands do not change the answer's logit difference; "
            "the model does not solve this task, so patching effects would be meaningless"
        )
    effects = torch.zeros(model.n_layers, model.n_heads)
    for layer, name in enumerate(names):
        for head in range(model.n_heads):

            def patch(z: Tensor, hook, head: int = head, name: str = name) -> Tensor:
                z = z.clone()
                z[:, :, head] = cache[name][:, :, head]
                return z

            logits = model.run_with_hooks(clean, fwd_hooks=[(name, patch)])
            patched = logit_difference(logits, answers, wrong, positions).mean()
            effects[layer, head] = (ld_clean - patched) / denominator
    return effects


def patching_effects(
    model: HookedModel,
    clean: Int[Tensor, "batch pos"],
    counterfactual: Int[Tensor, "batch pos"],
    answers: Int[Tensor, " batch"],
    wrong: Int[Tensor, " batch"],
    positions: Int[Tensor, " batch"] | None = None,
) -> Float[Tensor, "layer head"]:
    """The same numbers as :func:`head_patching_effects`, from one batched engine sweep (noising)."""
    from circuits.activation_patching import activation_patching
    from interp.engine import logit_diff

    clean, counterfactual = model.check_tokens(clean), model.check_tokens(counterfactual)
    where = torch.full((clean.shape[0], 1), clean.shape[1] - 1) if positions is None else positions[:, None]
    metric = logit_diff(answers, wrong, where)
    result = activation_patching(
        model, clean, counterfactual, metric, site="z", direction="noising", progress=False
    )
    if abs(result.target - result.baseline) < 1e-6:
        raise ValueError(
            "the counterfactual operands do not change the answer's logit difference; "
            "the model does not solve this task, so patching effects would be meaningless"
        )
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
    threshold: float = ARITHMETIC_THRESHOLD,
    attention_min: float = ATTENTION_MIN,
) -> HeadScores:
    """Score every head as an arithmetic head: patching effect (the score) and attention to operands.

    Args:
        clean: Prompts; the answer is predicted at ``positions`` (default: the last).
        counterfactual: The same prompts with other operands.
        answers: The clean answer token; ``wrong``: the counterfactual answer token.
        operand_positions: Positions of the operand and operator tokens in each clean prompt.
        attention_min: Least attention from the answer position to ``operand_positions``.
    """
    effects = patching_effects(model, clean, counterfactual, answers, wrong, positions)
    attention = attention_to_positions(model, clean, operand_positions, positions)
    scores = HeadScores.from_grid(
        "arithmetic", effects, threshold, {"patching": effects, "attention": attention}
    )
    scores.df["is_head"] &= scores.df["attention"] >= attention_min
    return scores


def find_arithmetic_heads_for_task(
    model: HookedModel, task, *, threshold: float = ARITHMETIC_THRESHOLD
) -> HeadScores:
    """Arithmetic heads on an arithmetic task: operands and operator are the tokens before ``=``."""
    equals = model.to_single_token("=")
    clean = task.clean_tokens
    is_equals = clean == equals
    if not bool(is_equals.any(-1).all()):
        raise ValueError("every arithmetic prompt needs an '=' token after its operands")
    first_equals = is_equals.float().argmax(-1)
    start = (
        1
        if model.tokenizer.bos_token_id is not None
        and bool((clean[:, 0] == model.tokenizer.bos_token_id).all())
        else 0
    )
    width = int(first_equals.min()) - start
    operand_positions = start + torch.arange(width)[None].expand(clean.shape[0], -1)
    return find_arithmetic_heads(
        model,
        clean,
        task.corrupted_tokens,
        task.answer_tokens,
        task.wrong_tokens,
        operand_positions,
        positions=task.positions,
        threshold=threshold,
    )
