"""Metrics: what a patched run is scored by, and which logits it needs.

A :class:`Metric` is a function of the logits at chosen positions that returns
one number per prompt. It also says which positions (and, when it can, which
vocabulary columns) it reads, so the engine unembeds only those.

The built-ins are logit difference, answer probability, accuracy and KL
divergence to the clean run. Sweeps report the mean over prompts of the
per-prompt value, which is what a TransformerLens metric
``lambda logits: metric.fn(logits[:, positions]).mean()`` returns.

Example:
    >>> import torch
    >>> m = logit_diff(correct=torch.tensor([5, 6]), wrong=torch.tensor([7, 8]))
    >>> logits = torch.zeros(2, 4, 10)
    >>> logits[0, -1, 5] = 2.0
    >>> m(logits).tolist()
    [2.0, 0.0]
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

MetricFn = Callable[[Tensor], Tensor]
"""``fn(logits[batch, k, vocab']) -> [batch]``: logits at the metric's positions (and columns)."""


@dataclass(frozen=True, kw_only=True)
class Metric:
    """A per-prompt score of the logits at chosen positions.

    Attributes:
        fn: Maps logits ``[batch, k, vocab']`` at ``positions`` to one value per
            prompt ``[batch]``. ``vocab'`` is ``len(vocab)`` when ``vocab`` is set
            (columns in that order), else the full vocabulary.
        positions: Positions read, ``[k]`` shared by every prompt or ``[batch, k]``
            per prompt; negative values count from the end.
        vocab: Token ids whose logits ``fn`` reads, or None for all of them.
        name: A short name for tables and plots.
    """

    fn: MetricFn
    positions: Int[Tensor, "..."]
    vocab: Int[Tensor, " n_vocab"] | None = None
    name: str = "metric"

    def resolve_positions(self, batch: int, n_pos: int) -> Int[Tensor, "batch k"]:
        """Absolute positions ``[batch, k]``; raises when one is out of range."""
        pos = torch.as_tensor(self.positions, dtype=torch.long).cpu()
        if pos.ndim == 0:
            pos = pos[None]
        if pos.ndim == 1:
            pos = pos[None].expand(batch, -1)
        if pos.ndim != 2 or pos.shape[0] != batch:
            raise ValueError(
                f"metric positions must be [k] or [batch={batch}, k], got shape {tuple(pos.shape)}"
            )
        bad = (pos < -n_pos) | (pos >= n_pos)
        if bad.any():
            raise ValueError(
                f"metric position {int(pos[bad][0])} is out of range; expected -{n_pos} <= pos < {n_pos}"
            )
        return pos % n_pos

    def evaluate(self, logits: Tensor, batch: int) -> Float[Tensor, " batch"]:
        """Apply ``fn`` and check that it returns one finite-shaped value per prompt."""
        out = self.fn(logits)
        if not isinstance(out, Tensor) or out.shape != (batch,):
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(
                f"metric {self.name!r} must return one value per prompt, a tensor of shape ({batch},); "
                f"got {shape}. Reduce over positions and vocabulary inside the metric, not over prompts."
            )
        return out

    def __call__(self, logits: Float[Tensor, "batch pos d_vocab"]) -> Float[Tensor, " batch"]:
        """Score full logits ``[batch, pos, d_vocab]`` (selects positions and columns itself)."""
        batch, n_pos = logits.shape[:2]
        pos = self.resolve_positions(batch, n_pos).to(logits.device)
        picked = logits[torch.arange(batch, device=logits.device)[:, None], pos]
        if self.vocab is not None:
            picked = picked[..., self.vocab.to(logits.device)]
        return self.evaluate(picked, batch)


def _as_ids(ids: int | Sequence[int] | Tensor, what: str) -> Int[Tensor, "..."]:
    t = torch.as_tensor(ids, dtype=torch.long)
    if t.ndim > 1:
        raise ValueError(f"{what} must be a token id or one id per prompt, got shape {tuple(t.shape)}")
    return t


def logit_diff(
    correct: int | Sequence[int] | Tensor,
    wrong: int | Sequence[int] | Tensor,
    positions: int | Sequence[int] | Tensor = -1,
) -> Metric:
    """Logit of the correct answer minus the wrong one, summed over ``positions``.

    Args:
        correct: Correct token id, shared or one per prompt ``[batch]``.
        wrong: Wrong (corrupted-answer) token id, shared or one per prompt.
        positions: Where the answer is read (default: the last position).
    """
    correct, wrong = _as_ids(correct, "correct"), _as_ids(wrong, "wrong")
    vocab, inverse = torch.unique(torch.cat([correct.reshape(-1), wrong.reshape(-1)]), return_inverse=True)
    c_idx, w_idx = inverse[: correct.numel()], inverse[correct.numel() :]

    def fn(logits: Tensor) -> Tensor:
        idx_c, idx_w = c_idx.to(logits.device), w_idx.to(logits.device)
        batch = logits.shape[0]
        rows = torch.arange(batch, device=logits.device)
        lc = logits[rows, :, idx_c.expand(batch)] if idx_c.ndim else logits[:, :, idx_c]
        lw = logits[rows, :, idx_w.expand(batch)] if idx_w.ndim else logits[:, :, idx_w]
        return (lc - lw).sum(-1)

    return Metric(fn=fn, positions=torch.as_tensor(positions), vocab=vocab, name="logit_diff")


def answer_prob(answer: int | Sequence[int] | Tensor, positions: int | Sequence[int] | Tensor = -1) -> Metric:
    """Probability of ``answer`` (shared id or one per prompt), averaged over ``positions``."""
    answer = _as_ids(answer, "answer")

    def fn(logits: Tensor) -> Tensor:
        probs = logits.float().softmax(-1)
        idx = answer.to(logits.device).expand(logits.shape[0])
        return probs[torch.arange(logits.shape[0], device=logits.device), :, idx].mean(-1)

    return Metric(fn=fn, positions=torch.as_tensor(positions), name="answer_prob")


def accuracy(answer: int | Sequence[int] | Tensor, positions: int | Sequence[int] | Tensor = -1) -> Metric:
    """Share of ``positions`` where ``answer`` is the top logit (0 or 1 for one position)."""
    answer = _as_ids(answer, "answer")

    def fn(logits: Tensor) -> Tensor:
        idx = answer.to(logits.device).expand(logits.shape[0])
        return (logits.argmax(-1) == idx[:, None]).float().mean(-1)

    return Metric(fn=fn, positions=torch.as_tensor(positions), name="accuracy")


def kl_to_clean(
    clean_logits: Float[Tensor, "batch k d_vocab"], positions: int | Sequence[int] | Tensor = -1
) -> Metric:
    """KL(clean || patched) of the next-token distributions, summed over ``positions``.

    Args:
        clean_logits: The clean run's logits at ``positions`` (``[batch, k, d_vocab]``),
            e.g. ``model.run(clean)[:, positions]``.
        positions: The positions they were taken at.
    """
    clean_logp = clean_logits.detach().float().log_softmax(-1)

    def fn(logits: Tensor) -> Tensor:
        ref = clean_logp.to(logits.device)
        logp = logits.float().log_softmax(-1)
        return (ref.exp() * (ref - logp)).sum(-1).sum(-1)

    return Metric(fn=fn, positions=torch.as_tensor(positions), name="kl_to_clean")


def as_metric(metric: Metric | MetricFn, positions: int | Sequence[int] | Tensor = -1) -> Metric:
    """Wrap a plain ``fn(logits[batch, k, d_vocab]) -> [batch]`` as a :class:`Metric`."""
    if isinstance(metric, Metric):
        return metric
    if not callable(metric):
        raise TypeError(f"metric must be a Metric or a callable, got {type(metric).__name__}")
    return Metric(fn=metric, positions=torch.as_tensor(positions), name=getattr(metric, "__name__", "metric"))
