"""``Trace``: the cached activations of one batched run, in TransformerLens layout.

Both engines (the fast one computed from canonical weights and the hook
fallback) produce a ``Trace``; sweeps read patch values and baselines from it.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.engine.metrics import Metric


@dataclass(kw_only=True)
class Trace:
    """Activations of one run.

    Attributes:
        tokens: The input ``[batch, pos]``.
        acts: ``(layer, site) -> tensor`` in TransformerLens hook layout (see
            :mod:`interp.engine.patches`), plus ``(-1, "embed")`` for the token embedding.
        final: The residual stream entering the final norm ``[batch, pos, d_model]``
            (fast engine only).
        logits: Full logits ``[batch, pos, d_vocab]`` (hook engine only).
        extra: Engine-private tensors (rotated keys for prefix reuse).
    """

    tokens: Int[Tensor, "batch pos"]
    acts: dict[tuple[int, str], Tensor]
    final: Float[Tensor, "batch pos d_model"] | None = None
    logits: Float[Tensor, "batch pos d_vocab"] | None = None
    extra: dict[str, Tensor] = field(default_factory=dict)

    @property
    def batch(self) -> int:
        return self.tokens.shape[0]

    @property
    def n_pos(self) -> int:
        return self.tokens.shape[1]

    def act(self, layer: int, site: str) -> Tensor:
        """The cached activation at ``site`` of block ``layer``."""
        try:
            return self.acts[(layer, site)]
        except KeyError:
            raise KeyError(f"this trace holds no {site!r} activation for layer {layer}") from None

    def mean(self) -> "Trace":
        """A one-prompt trace holding the mean over prompts of every activation (for mean ablation)."""
        return Trace(
            tokens=self.tokens[:1],
            acts={k: v.float().mean(0, keepdim=True).to(v.dtype) for k, v in self.acts.items()},
        )

    def select(self, index: Int[Tensor, " batch"]) -> "Trace":
        """The activations of prompts ``index`` (in that order), e.g. for resample ablation."""
        return Trace(
            tokens=self.tokens[index],
            acts={k: v[index] for k, v in self.acts.items()},
            final=None if self.final is None else self.final[index],
            logits=None if self.logits is None else self.logits[index],
            extra={k: v[index] for k, v in self.extra.items()},
        )


def metric_rows(metric: Metric, batch: int, n_pos: int) -> tuple[list[int], Int[Tensor, "batch k"]]:
    """The sorted distinct positions a metric reads and, per prompt, their index in that list."""
    pos = metric.resolve_positions(batch, n_pos)
    rows = sorted(set(pos.flatten().tolist()))
    lookup = torch.full((n_pos,), -1, dtype=torch.long)
    lookup[rows] = torch.arange(len(rows))
    return rows, lookup[pos]


def gather_metric_logits(
    logits_rows: Float[Tensor, "cells batch rows vocab"], index: Int[Tensor, "batch k"]
) -> Float[Tensor, "cells batch k vocab"]:
    """Pick each prompt's metric positions out of the logits computed at the distinct rows."""
    batch = index.shape[0]
    idx = index.to(logits_rows.device)
    return logits_rows[:, torch.arange(batch, device=idx.device)[:, None], idx]


class MetricReads:
    """What several metrics read together: the union of their positions (and, when every metric
    names its columns, of their vocabulary), and how to score each from logits computed at those.

    Example:
        >>> from interp.engine.metrics import accuracy, logit_diff
        >>> reads = MetricReads([accuracy(5, 2), logit_diff(5, 7, 3)], batch=1, n_pos=4)
        >>> reads.rows, reads.vocab
        ([2, 3], None)
    """

    def __init__(self, metrics: Sequence[Metric], batch: int, n_pos: int) -> None:
        self.metrics = list(metrics)
        if not self.metrics:
            raise ValueError("no metrics given; expected at least one Metric")
        self.batch = batch
        each = [metric_rows(m, batch, n_pos) for m in self.metrics]
        self.rows: list[int] = sorted(set().union(*(rows for rows, _ in each)))
        at = {r: i for i, r in enumerate(self.rows)}
        self.index = [torch.tensor([at[r] for r in rows], dtype=torch.long)[idx] for rows, idx in each]
        vocabs = [m.vocab for m in self.metrics]
        if all(v is not None for v in vocabs):
            self.vocab: Tensor | None = torch.unique(torch.cat([v.cpu().long().flatten() for v in vocabs]))
            self.columns = [torch.searchsorted(self.vocab, v.cpu().long()) for v in vocabs]
        else:
            self.vocab, self.columns = None, [None if v is None else v.cpu().long() for v in vocabs]

    def evaluate(self, logits: Float[Tensor, "cells batch rows vocab"]) -> list[Float[Tensor, "cells batch"]]:
        """Each metric's per-prompt values for each cell of ``logits``."""
        out = []
        for metric, index, cols in zip(self.metrics, self.index, self.columns, strict=True):
            picked = gather_metric_logits(logits, index)
            if cols is not None:
                picked = picked[..., cols.to(picked.device)]
            out.append(torch.stack([metric.evaluate(p, self.batch).float() for p in picked]))
        return out
