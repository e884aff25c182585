"""The task: clean and corrupted prompts, answer and wrong-answer tokens, and metrics.

A :class:`Task` is what every method (patching, ablation, head finding) takes.
Each prompt has one metric position, the position whose next-token prediction
the metric reads; positions may differ between prompts (the tokens after it
are irrelevant to a causal model). Corrupted prompts have the clean prompts'
shape and differ where the answer comes from, so patching them in removes the
information the answer needs.

Metrics take logits ``[batch pos d_vocab]`` (or ``[batch 1 d_vocab]`` already
read at the metric positions) and return one value per prompt:

- ``logit_diff``: logit of the answer minus logit of the wrong answer;
- ``answer_prob``: softmax probability of the answer over the full vocabulary;
- ``accuracy``: 1.0 where the argmax over the full vocabulary is the answer.

Example:
    >>> import torch
    >>> import pandas as pd
    >>> task = Task(
    ...     name="toy",
    ...     clean_tokens=torch.tensor([[1, 5, 6]]),
    ...     corrupted_tokens=torch.tensor([[1, 7, 6]]),
    ...     answer_tokens=torch.tensor([2]),
    ...     wrong_tokens=torch.tensor([3]),
    ...     positions=torch.tensor([2]),
    ...     metadata=pd.DataFrame({"kind": ["toy"]}),
    ... )
    >>> logits = torch.zeros(1, 3, 4)
    >>> logits[0, 2, 2] = 1.0
    >>> task.logit_diff(logits).tolist(), task.accuracy(logits).tolist()
    ([1.0], [1.0])
"""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import pandas as pd
import torch
from jaxtyping import Float, Int
from torch import Tensor

MetricName = Literal["logit_diff", "answer_prob", "accuracy"]
"""``logit_diff``: answer minus wrong-answer logit. ``answer_prob``: softmax probability of the
answer. ``accuracy``: whether the answer is the argmax over the whole vocabulary."""

METRICS: tuple[MetricName, ...] = ("logit_diff", "answer_prob", "accuracy")


@dataclass(frozen=True, kw_only=True, eq=False)
class Task:
    """Prompts with a known answer, their corrupted counterparts, and metrics.

    Attributes:
        name: The task family (``induction``, ``successor``, ``retrieval``, ...).
        clean_tokens: Clean prompts, BOS first where the tokenizer has one.
        corrupted_tokens: Corrupted prompts of the same shape.
        answer_tokens: The correct next token at each prompt's metric position.
        wrong_tokens: A plausible wrong next token per prompt (the answer a corrupted prompt
            points to, or the answer a model would give without the mechanism under study).
        positions: The metric position of each prompt (index into ``pos``).
        metadata: One row per prompt (sub-task, set, depth, operands, ...).
        metric: The default metric, used by :meth:`score`.
        negative_tokens: Prompts of the same form that the model cannot complete, for methods that
            contrast solved with unsolved prompts (the SAE circuit finder's negatives, O'Neill & Bui
            2024), one per prompt. None where the corrupted prompts already are such prompts (a random
            sequence for induction); a task whose corrupted prompts are counterfactuals the model also
            solves (other operands for arithmetic) sets its own.
    """

    name: str
    clean_tokens: Int[Tensor, "batch pos"]
    corrupted_tokens: Int[Tensor, "batch pos"]
    answer_tokens: Int[Tensor, " batch"]
    wrong_tokens: Int[Tensor, " batch"]
    positions: Int[Tensor, " batch"]
    metadata: pd.DataFrame = field(repr=False)
    metric: MetricName = "logit_diff"
    negative_tokens: Int[Tensor, "batch neg_pos"] | None = field(default=None, repr=False)

    def __post_init__(self):
        batch, n_pos = self.clean_tokens.shape
        if self.corrupted_tokens.shape != self.clean_tokens.shape:
            raise ValueError(
                f"corrupted_tokens has shape {tuple(self.corrupted_tokens.shape)}; expected the clean "
                f"shape {tuple(self.clean_tokens.shape)}"
            )
        for attr in ("answer_tokens", "wrong_tokens", "positions"):
            if tuple(getattr(self, attr).shape) != (batch,):
                raise ValueError(
                    f"{attr} has shape {tuple(getattr(self, attr).shape)}; expected ({batch},), "
                    "one per prompt"
                )
        if len(self.metadata) != batch:
            raise ValueError(f"metadata has {len(self.metadata)} rows; expected {batch}, one per prompt")
        if batch and (int(self.positions.min()) < 0 or int(self.positions.max()) >= n_pos):
            raise ValueError(f"metric positions must lie in [0, {n_pos}); got {self.positions.tolist()}")
        if self.negative_tokens is not None and (
            self.negative_tokens.ndim != 2 or self.negative_tokens.shape[0] != batch
        ):
            raise ValueError(
                f"negative_tokens has shape {tuple(self.negative_tokens.shape)}; expected [{batch}, pos], "
                "one per prompt"
            )
        if self.metric not in METRICS:
            raise ValueError(f"unknown metric {self.metric!r}; expected one of {METRICS}")

    def __len__(self) -> int:
        return self.clean_tokens.shape[0]

    # ------------------------------------------------------------------ metrics
    def final_logits(self, logits: Float[Tensor, "batch pos d_vocab"]) -> Float[Tensor, "batch d_vocab"]:
        """The logits at each prompt's metric position."""
        batch, n_pos = self.clean_tokens.shape
        if logits.ndim != 3 or logits.shape[0] != batch:
            raise ValueError(f"expected logits [batch={batch} pos d_vocab]; got shape {tuple(logits.shape)}")
        if logits.shape[1] == n_pos:
            return logits[torch.arange(batch, device=logits.device), self.positions.to(logits.device)]
        if logits.shape[1] == 1:
            return logits[:, 0]
        raise ValueError(
            f"logits have {logits.shape[1]} positions; expected {n_pos} (the prompts) or 1 (read at the "
            "metric positions)"
        )

    def logit_diff(self, logits: Float[Tensor, "batch pos d_vocab"]) -> Float[Tensor, " batch"]:
        """Answer logit minus wrong-answer logit at each metric position."""
        final = self.final_logits(logits)
        idx = torch.arange(final.shape[0], device=final.device)
        answer, wrong = self.answer_tokens.to(final.device), self.wrong_tokens.to(final.device)
        return final[idx, answer] - final[idx, wrong]

    def answer_prob(self, logits: Float[Tensor, "batch pos d_vocab"]) -> Float[Tensor, " batch"]:
        """Softmax probability of the answer over the full vocabulary."""
        probs = self.final_logits(logits).float().softmax(-1)
        return probs[torch.arange(probs.shape[0], device=probs.device), self.answer_tokens.to(probs.device)]

    def accuracy(self, logits: Float[Tensor, "batch pos d_vocab"]) -> Float[Tensor, " batch"]:
        """1.0 where the argmax over the full vocabulary is the answer, else 0.0."""
        final = self.final_logits(logits)
        return (final.argmax(-1) == self.answer_tokens.to(final.device)).float()

    def score(self, logits: Float[Tensor, "batch pos d_vocab"]) -> Float[Tensor, " batch"]:
        """The default metric (:attr:`metric`)."""
        return getattr(self, self.metric)(logits)

    # ------------------------------------------------------------------ slicing
    def subset(self, index: Sequence[int] | Tensor) -> "Task":
        """The task restricted to the prompts at ``index``."""
        idx = torch.as_tensor(index, dtype=torch.long)
        return replace(
            self,
            clean_tokens=self.clean_tokens[idx],
            corrupted_tokens=self.corrupted_tokens[idx],
            answer_tokens=self.answer_tokens[idx],
            wrong_tokens=self.wrong_tokens[idx],
            positions=self.positions[idx],
            metadata=self.metadata.iloc[idx.tolist()].reset_index(drop=True),
            negative_tokens=None if self.negative_tokens is None else self.negative_tokens[idx],
        )

    def where(self, **columns) -> "Task":
        """The prompts whose metadata equals the given values, e.g. ``task.where(set="days")``."""
        mask = pd.Series(True, index=self.metadata.index)
        for column, value in columns.items():
            if column not in self.metadata:
                raise ValueError(f"no metadata column {column!r}; expected one of {list(self.metadata)}")
            mask &= self.metadata[column] == value
        return self.subset([i for i, keep in enumerate(mask.tolist()) if keep])

    def to(self, device: str | torch.device) -> "Task":
        """The task with its tensors on ``device``."""
        return replace(
            self,
            clean_tokens=self.clean_tokens.to(device),
            corrupted_tokens=self.corrupted_tokens.to(device),
            answer_tokens=self.answer_tokens.to(device),
            wrong_tokens=self.wrong_tokens.to(device),
            positions=self.positions.to(device),
            negative_tokens=None if self.negative_tokens is None else self.negative_tokens.to(device),
        )

    def evaluate(self, model, batch_size: int = 256) -> pd.DataFrame:
        """Every metric per prompt on ``model`` (clean prompts), joined to the metadata."""
        rows = []
        with torch.no_grad():
            for start in range(0, len(self), batch_size):
                part = self.subset(range(start, min(start + batch_size, len(self)))).to(model.device)
                logits = model.run(part.clean_tokens)
                rows.append(
                    pd.DataFrame({m: getattr(part, m)(logits).float().cpu().numpy() for m in METRICS})
                )
        return pd.concat([self.metadata.reset_index(drop=True), pd.concat(rows, ignore_index=True)], axis=1)


def make_task(
    name: str,
    clean: Sequence[Sequence[int]],
    corrupted: Sequence[Sequence[int]],
    answers: Sequence[int],
    wrongs: Sequence[int],
    positions: Sequence[int],
    metadata: pd.DataFrame | Sequence[dict],
    metric: MetricName = "logit_diff",
    negatives: Sequence[Sequence[int]] | None = None,
) -> Task:
    """A :class:`Task` from plain lists, checking that the prompts are rectangular."""
    lengths = {len(p) for p in clean} | {len(p) for p in corrupted}
    if len(lengths) != 1:
        raise ValueError(f"prompts must all have one length; got lengths {sorted(lengths)}")
    return Task(
        name=name,
        clean_tokens=torch.tensor([list(p) for p in clean], dtype=torch.long),
        corrupted_tokens=torch.tensor([list(p) for p in corrupted], dtype=torch.long),
        answer_tokens=torch.tensor(list(answers), dtype=torch.long),
        wrong_tokens=torch.tensor(list(wrongs), dtype=torch.long),
        positions=torch.tensor(list(positions), dtype=torch.long),
        metadata=metadata if isinstance(metadata, pd.DataFrame) else pd.DataFrame(list(metadata)),
        metric=metric,
        negative_tokens=None
        if negatives is None
        else torch.tensor([list(p) for p in negatives], dtype=torch.long),
    )
