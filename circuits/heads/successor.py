"""Successor heads (Gould et al. 2023).

From "Successor Heads: Recurring, Interpretable Attention Heads In The Wild".

A successor head's OV circuit increments: fed the token "Monday" it raises
"Tuesday". Gould et al. read this from the weights through the effective OV
circuit of head h on an ordinal token set S:

    M_h = MLP0(W_E[S]) · W_V^h W_O^h · W_U[:, S]

(MLP0 applied to the raw embeddings, no attention, no LayerNorm folding). By
default the toolkit reads the residual stream a later head sees for a lone token,
``W_E[S] + MLP0(W_E[S])`` (``embedding="resid"``), instead of MLP0's output alone. The
paper's reading suits GPT-2, where MLP0 acts as an extended embedding (how far the two
readings differ there is not measured here, without hub access), but it is degenerate
in attention-only models (no MLP0: every head scores as if its OV were zero;
``zoo:successor-2l``'s successor heads score 0.76-0.90 read from the residual, 0.05
from MLP0) and misses small models that carry the increment in the embedding itself
(a two-layer model with an MLP in layer 0 only, trained on ``marked`` successor
prompts, scores 0.96-1.0 read so, 0.23-0.27 read from MLP0's output alone).
``embedding="mlp0"`` gives the paper's exact circuit.

The succession score is the fraction of consecutive pairs (t_i, t_{i+1}) of the
set for which row t_i of M_h peaks at t_{i+1} among the set's tokens (t_i
included); cyclic sets (days, months) include the pair (last, first). A random
head scores about 1/|S|.

Example:
    >>> from interp.testing import tiny_model
    >>> model = tiny_model("gpt2")
    >>> sets = {"t": TokenSet(name="t", token_ids=(10, 11, 12, 13), cyclic=False)}
    >>> tuple(succession_scores(model, sets)["t"].shape)
    (2, 4)
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from circuits.heads.scores import HeadScores
from circuits.tasks import Task
from circuits.tasks.successor import MIN_MEMBERS, expressible_sets
from interp import HookedModel, ModelWeights
from interp.weights.forward import EffectiveEmbedding, effective_embeddings

SUCCESSOR_THRESHOLD = 0.5
"""A head is a successor head when it increments more than half of the consecutive pairs on average."""


@dataclass(frozen=True, kw_only=True)
class TokenSet:
    """An ordered set of single tokens, such as the days of the week.

    Attributes:
        name: The set's name (``days``, ``numbers``, ...).
        token_ids: The tokens in order.
        cyclic: Whether the last member is followed by the first (days, months).
        links: The (member, successor) index pairs to score, when not every consecutive pair
            (a set read from a task's prompts: :func:`token_sets_from_task`).
    """

    name: str
    token_ids: tuple[int, ...]
    cyclic: bool = False
    links: tuple[tuple[int, int], ...] | None = None

    def pairs(self) -> list[tuple[int, int]]:
        """Indices (i, i+1) of consecutive members, including (last, first) when cyclic (or the
        :attr:`links`, when given)."""
        if self.links is not None:
            return list(self.links)
        n = len(self.token_ids)
        pairs = [(i, i + 1) for i in range(n - 1)]
        return pairs + [(n - 1, 0)] if self.cyclic else pairs


def effective_ov(
    w: ModelWeights, token_ids: Int[Tensor, " n"], embedding: EffectiveEmbedding = "resid"
) -> Float[Tensor, "layer head n n"]:
    """Every head's effective OV circuit restricted to ``token_ids`` (rows: source, columns: output)."""
    x = effective_embeddings(w, token_ids, embedding)
    return torch.einsum("nd,lhde,ev->lhnv", x, w.W_OV, w.W_U[:, token_ids])


def succession_scores(
    model: HookedModel,
    token_sets: Mapping[str, TokenSet],
    *,
    embedding: EffectiveEmbedding = "resid",
    weights: ModelWeights | None = None,
) -> dict[str, Float[Tensor, "layer head"]]:
    """The succession score of every head on each token set.

    Args:
        token_sets: The sets to score, each of at least 2 single tokens.
        embedding: What the head reads (see :data:`EffectiveEmbedding`).
        weights: Score these weights instead of the model's (e.g. edited ones).
    """
    w = weights if weights is not None else model.weights
    if not token_sets:
        raise ValueError("no token sets to score; expected at least one TokenSet")
    result = {}
    for name, token_set in token_sets.items():
        ids = torch.as_tensor(token_set.token_ids, device=w.W_E.device)
        if len(ids) < 2:
            raise ValueError(f"token set {name!r} has {len(ids)} members; expected at least 2")
        if bool((ids < 0).any()) or bool((ids >= w.d_vocab).any()):
            raise ValueError(f"token set {name!r} has ids outside the vocabulary 0..{w.d_vocab - 1}")
        peaks = effective_ov(w, ids, embedding).argmax(-1)  # [layer head n]
        src, dst = zip(*token_set.pairs(), strict=True)
        hits = peaks[..., list(src)] == torch.tensor(dst, device=peaks.device)
        result[name] = hits.float().mean(-1).cpu()
    return result


def token_sets_for(model: HookedModel, names: Sequence[str] | None = None) -> dict[str, TokenSet]:
    """The ordinal sets among ``names`` (default: every set of
    :data:`~circuits.tasks.token_sets.ORDINAL_SETS`) that the model's tokenizer expresses as single
    tokens, with or without a leading space (a set that does not wrap around perhaps cut short: see
    :func:`circuits.tasks.successor.expressible_sets`).

    Raises:
        ValueError: When the tokenizer expresses none of them.
    """
    return {
        name: TokenSet(name=name, token_ids=tuple(ids), cyclic=cyclic)
        for name, (ids, cyclic) in expressible_sets(model, names).items()
    }


def token_sets_from_task(task: Task) -> dict[str, TokenSet]:
    """The ordered sets a successor task asks about, one per value of its ``set`` metadata column
    (one set named after the task without it).

    A successor task's wrong answer is the member whose successor is the answer
    (:func:`circuits.tasks.successor_task` in every form), so each prompt gives one consecutive
    pair; a set's members are the tokens of its pairs, and only those pairs are scored.

    Raises:
        ValueError: A set with a single distinct token, or with fewer than
            :data:`~circuits.tasks.successor.MIN_MEMBERS` (a head ranking the successor first among
            two or three tokens is close to chance; more prompts give more members).
    """
    meta = task.metadata
    labels = meta["set"].astype(str).tolist() if "set" in meta else [task.name] * len(task)
    pairs: dict[str, dict[tuple[int, int], None]] = {}
    for label, src, dst in zip(labels, task.wrong_tokens.tolist(), task.answer_tokens.tolist(), strict=True):
        pairs.setdefault(label, {})[(int(src), int(dst))] = None
    sets = {}
    for label, links in pairs.items():
        members = tuple(dict.fromkeys(t for pair in links for t in pair))
        if len(members) < 2:
            raise ValueError(
                f"successor set {label!r} of task {task.name!r} has one distinct token {members}; expected "
                "prompts whose answer (the successor) differs from their wrong token (the member before it)"
            )
        if len(members) < MIN_MEMBERS:
            raise ValueError(
                f"successor set {label!r} of task {task.name!r} has {len(members)} distinct tokens in its "
                f"prompts; expected at least {MIN_MEMBERS} to score heads against chance (give more prompts)"
            )
        index = {t: i for i, t in enumerate(members)}
        sets[label] = TokenSet(
            name=label, token_ids=members, links=tuple((index[a], index[b]) for a, b in links)
        )
    return sets


def successor_behaviour(model: HookedModel, task) -> Float[Tensor, "layer head"]:
    """Does each head's own output raise the successor? Its direct logit attribution to the
    answer (the successor) minus the wrong answer, averaged over the task's prompts."""
    from circuits.logit_attribution import task_logit_attribution

    return torch.as_tensor(task_logit_attribution(model, task, "head").head_grid()).float()


def find_successor_heads(
    model: HookedModel,
    token_sets: Mapping[str, TokenSet],
    *,
    threshold: float = SUCCESSOR_THRESHOLD,
    embedding: EffectiveEmbedding = "resid",
    seed: int = 0,
    behaviour: bool = True,
    task: Task | None = None,
) -> HeadScores:
    """Score every head as a successor head: the mean succession score over the sets.

    The per-set scores are evidence columns ``succession_<set>``; ``chance`` is
    the score a random head would get on average (mean 1/|S|); with
    ``behaviour``, ``successor_logit`` is each head's direct logit attribution
    to the successor over the wrong answer on successor prompts (positive: the
    head's output raises the successor), when the model can express the task.

    Args:
        task: The successor prompts of the behavioural check (default: the model's own, from
            :func:`circuits.tasks.registry.task_for`, left out when its tokenizer cannot express them).
    """
    per_set = succession_scores(model, token_sets, embedding=embedding)
    grid = torch.stack(list(per_set.values())).mean(0)
    chance = sum(1 / len(s.token_ids) for s in token_sets.values()) / len(token_sets)
    evidence = {f"succession_{name}": scores for name, scores in per_set.items()}
    evidence["chance"] = torch.full_like(grid, chance)
    if behaviour and task is not None:
        evidence["successor_logit"] = successor_behaviour(model, task)
    elif behaviour:
        from circuits.tasks.registry import task_for

        try:
            task = task_for(model, "successor", n_prompts=32, seed=seed)
        except ValueError:
            task = None  # the tokenizer cannot express successor prompts; weights-only evidence
        if task is not None:
            evidence["successor_logit"] = successor_behaviour(model, task)
    return HeadScores.from_grid("successor", grid, threshold, evidence)
