"""Q-, K- and V-composition scores of head pairs (Elhage et al. 2021).

Elhage et al. (2021), "A Mathematical Framework for Transformer Circuits", score
how much a later head reads what an earlier head writes by the composition score
``|A B|_F / (|A|_F |B|_F)`` of the sender's ``W_OV`` with the receiver's
reading matrix.

Conventions (TransformerLens's): activations multiply weights on the left, so
``W_OV = W_V @ W_O`` maps the residual a head reads to what it writes, and
``W_QK = W_Q @ W_K^T``. Composition of a sender's ``W_OV`` into a receiver is
``W_OV @ W_QK`` (Q-composition), ``W_OV @ W_QK^T`` (K) or ``W_OV @ W_OV^recv``
(V). With ``fold_norm=False`` the raw weights are used, which is what
TransformerLens's ``all_composition_scores`` computes on a model loaded without
weight processing; ``fold_norm=True`` folds the first norm's weight into the
reading matrices and, for LayerNorm, centres reading and writing weights, as
TransformerLens's ``fold_ln`` and ``center_writing_weights`` do. Rotary position
embeddings are ignored by the weight-based scores.

The circuit factors here (:func:`circuit_factors`) are shared with
:mod:`circuits.svd_communication`, which splits the sender's ``W_OV`` into its
singular components (Merullo et al. 2024).

Example:
    >>> from interp.testing import tiny_model
    >>> model = tiny_model("gpt2")
    >>> composition_scores(model, modes=("K",)).scores.shape
    torch.Size([1, 2, 4, 2, 4])
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import einops
import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from circuits.heads.scores import head_name
from interp import HookedModel, ModelWeights

Circuit = Literal["ov", "qk"]
"""``ov``: ``W_V @ W_O``, what a head moves. ``qk``: ``W_Q @ W_K^T``, where it attends."""

Mode = Literal["Q", "K", "V"]
"""How a sender's output reaches a receiver: through its queries, keys or values."""

MODES: tuple[Mode, ...] = ("Q", "K", "V")

PAIR_COLUMNS = ["sender_layer", "sender_head", "receiver_layer", "receiver_head"]


def _weights(model: HookedModel | ModelWeights) -> ModelWeights:
    return model if isinstance(model, ModelWeights) else model.weights


def circuit_factors(
    w: ModelWeights, circuit: Circuit, fold_norm: bool = False
) -> tuple[Float[Tensor, "layer head d_model d_head"], Float[Tensor, "layer head d_head d_model"]]:
    """The two factors ``A, B`` of every head's circuit ``A @ B`` (float64).

    Args:
        w: The weights.
        circuit: ``"ov"`` (``W_V``, ``W_O``) or ``"qk"`` (``W_Q``, ``W_K^T``).
        fold_norm: Fold the attention norm's weight into the reading factors and, for
            LayerNorm, centre the reading and writing factors along ``d_model``.
    """
    if circuit not in ("ov", "qk"):
        raise ValueError(f"unknown circuit {circuit!r}; expected 'ov' or 'qk'")
    read, write = (w.W_V, w.W_O) if circuit == "ov" else (w.W_Q, w.W_K.transpose(-1, -2))
    read, write = read.double(), write.double()
    if not fold_norm:
        return read, write
    ln = w.ln1_w.double()[:, None, :, None]
    centre = w.norm == "layernorm"
    read = ln * read
    if centre:
        read = read - read.mean(-2, keepdim=True)
    if circuit == "qk":
        write = write * ln.transpose(-1, -2)
        if centre:
            write = write - write.mean(-1, keepdim=True)
    elif centre:
        write = write - write.mean(-1, keepdim=True)
    return read, write


def _check_fold(fold_norm: Any) -> bool:
    if not isinstance(fold_norm, bool):
        raise TypeError(f"fold_norm must be True or False; got {fold_norm!r}")
    return fold_norm


# ----------------------------------------------------------------------------- composition scores
def _receiver_factors(w: ModelWeights, mode: Mode, fold_norm: bool) -> tuple[Tensor, Tensor]:
    if mode == "Q":
        return circuit_factors(w, "qk", fold_norm)
    if mode == "K":
        read, write = circuit_factors(w, "qk", fold_norm)
        return write.transpose(-1, -2), read.transpose(-1, -2)
    if mode == "V":
        return circuit_factors(w, "ov", fold_norm)
    raise ValueError(f"unknown composition mode {mode!r}; expected one of {MODES}")


def _r_factors(read: Tensor, write: Tensor) -> tuple[Tensor, Tensor]:
    """Triangular factors with ``|read M write|_F = |R_read M R_write^T|_F`` for any ``M``."""
    return torch.linalg.qr(read, mode="r")[1], torch.linalg.qr(write.transpose(-1, -2), mode="r")[1]


@dataclass(frozen=True, kw_only=True)
class CompositionScores:
    """Q-, K- and V-composition scores of every (sender, receiver) head pair.

    Attributes:
        modes: The modes scored, in the order of ``scores``.
        scores: ``[mode, layer, head, layer, head]``: sender ``(layer, head)`` then receiver;
            zero unless the sender's layer is before the receiver's (TransformerLens's layout).
        fold_norm: Whether the norm was folded in.
    """

    modes: tuple[str, ...]
    scores: Float[Tensor, "mode layer head layer head"]
    fold_norm: bool = False

    def grid(self, mode: Mode) -> Float[Tensor, "layer head layer head"]:
        """The ``[layer, head, layer, head]`` scores of one mode."""
        if mode not in self.modes:
            raise ValueError(f"no scores for mode {mode!r}; expected one of {self.modes}")
        return self.scores[self.modes.index(mode)]

    @property
    def df(self) -> pd.DataFrame:
        """One row per mode and pair with the sender before the receiver."""
        n_layers = self.scores.shape[1]
        order = torch.arange(n_layers)
        ordered = (order[:, None, None, None] < order[None, None, :, None]).expand(self.scores.shape[1:])
        frames = []
        for mode, grid in zip(self.modes, self.scores, strict=True):
            index = ordered.nonzero()
            frames.append(pd.DataFrame(index.numpy(), columns=PAIR_COLUMNS).assign(mode=mode))
            frames[-1]["score"] = grid[ordered].tolist()
        df = pd.concat(frames, ignore_index=True)
        return _with_labels(df)[["mode", *PAIR_COLUMNS, "sender", "receiver", "score"]]

    def top(self, k: int = 10, mode: Mode | None = None) -> pd.DataFrame:
        """The ``k`` highest-scoring pairs (of one mode, or per mode)."""
        df = self.df if mode is None else self.df[self.df["mode"] == mode]
        return (
            df.sort_values("score", ascending=False, kind="stable")
            .groupby("mode")
            .head(k)
            .reset_index(drop=True)
        )

    def plot(self, mode: Mode = "K"):
        """Heatmap: senders (rows) by receivers (columns); pairs not in order are blank."""
        import plotly.graph_objects as go

        grid = self.grid(mode).clone()
        n_layers, n_heads = grid.shape[:2]
        order = torch.arange(n_layers)
        grid[~(order[:, None, None, None] < order[None, None, :, None]).expand_as(grid)] = float("nan")
        labels = [head_name(layer, h) for layer in range(n_layers) for h in range(n_heads)]
        flat = grid.reshape(n_layers * n_heads, n_layers * n_heads)
        fig = go.Figure(
            go.Heatmap(z=flat.numpy(), x=labels, y=labels, colorscale="Viridis", colorbar={"title": "score"})
        )
        fig.update_yaxes(autorange="reversed", title="sender")
        fig.update_xaxes(title="receiver")
        fig.update_layout(title=f"{mode}-composition scores")
        return fig

    def to_json(self) -> str:
        return json.dumps(
            {"fold_norm": self.fold_norm, "rows": json.loads(self.df.to_json(orient="records"))}
        )


def composition_scores(
    model: HookedModel | ModelWeights, modes: Sequence[Mode] = MODES, *, fold_norm: bool = False
) -> CompositionScores:
    """Composition scores of every head pair, ``|W_OV W_recv|_F / (|W_OV|_F |W_recv|_F)``.

    Equal to TransformerLens's ``all_composition_scores(mode)`` on the same weights
    (with ``fold_norm=False`` on a model loaded without weight processing).

    Args:
        model: A model or its weights.
        modes: Which of ``"Q"``, ``"K"``, ``"V"`` to score.
        fold_norm: Fold the attention norm in (see the module docstring).
    """
    _check_fold(fold_norm)
    modes = tuple(modes)
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise ValueError(f"unknown composition mode(s) {bad or list(modes)}; expected some of {MODES}")
    w = _weights(model)
    ov_read, ov_write = circuit_factors(w, "ov", fold_norm)
    r_ov_read, r_ov_write = _r_factors(ov_read, ov_write)
    sender_norm = (r_ov_read @ r_ov_write.transpose(-1, -2)).norm(dim=(-2, -1))
    out = []
    order = torch.arange(w.n_layers)
    mask = (order[:, None, None, None] < order[None, None, :, None]).to(w.W_O.device)
    for mode in modes:
        read, write = _receiver_factors(w, mode, fold_norm)
        r_read, r_write = _r_factors(read, write)
        receiver_norm = (r_read @ r_write.transpose(-1, -2)).norm(dim=(-2, -1))
        norms = torch.stack(
            [
                # |W_V W_O A B| = |R_V (W_O A) R_B^T|, one sender layer at a time to bound memory.
                einops.einsum(
                    r_ov_read[l1],
                    ov_write[l1],
                    read,
                    r_write,
                    "h1 a d_head, h1 d_head d_model, l2 h2 d_model e, l2 h2 b e -> h1 l2 h2 a b",
                ).norm(dim=(-2, -1))
                for l1 in range(w.n_layers)
            ]
        )
        scores = norms / sender_norm[:, :, None, None] / receiver_norm[None, None]
        out.append(torch.where(mask, scores, torch.zeros_like(scores)))
    return CompositionScores(modes=modes, scores=torch.stack(out).to(w.W_O.dtype).cpu(), fold_norm=fold_norm)


def _with_labels(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``sender`` and ``receiver`` labels (``L0H1``) to a frame with the pair columns."""
    return df.assign(
        sender=[head_name(a, b) for a, b in zip(df["sender_layer"], df["sender_head"], strict=True)],
        receiver=[head_name(a, b) for a, b in zip(df["receiver_layer"], df["receiver_head"], strict=True)],
    )
