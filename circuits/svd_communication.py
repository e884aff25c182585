"""SVD head communication: which heads talk to which through low-rank channels (Talking Heads).

Merullo et al. (2024), "Talking Heads: Understanding Inter-layer Communication
in Transformer Language Models", split a sender head's OV matrix by its
singular value decomposition, ``W_OV = U S V^T = sum_i C_i`` with rank-1
``C_i = s_i u_i v_i^T``, and score each component against a later head's QK
matrix: ``CS_i = |W_QK^recv C_i|_F / (|W_QK^recv|_F |C_i|_F)``. A component the
receiver reads is a communication channel; removing it from the sender's output
should change the receiver's attention.

Conventions (TransformerLens's, as in :mod:`circuits.composition_scores`):
activations multiply weights on the left, so ``W_OV = W_V @ W_O`` maps the
residual the sender reads (``u_i``, ``U[:, i]``) to what it writes (``v_i``,
``Vh[i]``), and ``W_QK = W_Q @ W_K^T``. With ``fold_norm=False`` the raw
weights are used; ``fold_norm=True`` folds the first norm's weight into the
reading matrices and, for LayerNorm, centres reading and writing weights, as
TransformerLens's ``fold_ln`` and ``center_writing_weights`` do. Rotary
position embeddings are ignored by the weight-based scores. The whole-pair
Q-, K- and V-composition scores (Elhage et al. 2021) are in
:mod:`circuits.composition_scores`.

Contents: :func:`head_svd`, :func:`component_composition_scores`,
:func:`communication_check` (the data-based check and the
predicted-versus-measured correlation), and channel editing in the weights
(:func:`edit_ov_channel`) or the activations (:func:`ov_channel_hooks`).

Example:
    >>> from interp.testing import tiny_model
    >>> model = tiny_model("gpt2")
    >>> svd = head_svd(model, (0, 1))
    >>> bool(torch.allclose(svd.matrix(), model.weights.W_OV[0, 1], atol=1e-5))
    True
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import einops
import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from circuits.composition_scores import (
    MODES,
    PAIR_COLUMNS,
    Circuit,
    Mode,
    _check_fold,
    _r_factors,
    _receiver_factors,
    _weights,
    _with_labels,
    circuit_factors,
    composition_scores,
)
from circuits.logit_attribution import HeadLike, TokensLike, as_tokens, parse_head
from interp import HookedModel, ModelWeights
from interp.engine.patches import hook_name

COMPONENT_COLUMNS = [
    *PAIR_COLUMNS[:2],
    "component",
    "sigma",
    *PAIR_COLUMNS[2:],
    "mode",
    "score",
    "weighted",
    "rank",
]


# ----------------------------------------------------------------------------- per-head SVD
@dataclass(frozen=True, kw_only=True)
class HeadSVD:
    """The singular value decomposition of one head's OV or QK circuit.

    Attributes:
        layer, head: The head.
        circuit: ``"ov"`` or ``"qk"``.
        U: Reading directions ``[d_model, d_head]`` (column ``i`` is ``u_i``).
        S: Singular values, descending ``[d_head]``.
        Vh: Writing directions ``[d_head, d_model]`` (row ``i`` is ``v_i``); for QK the key-side directions.
        fold_norm: Whether the norm was folded in.
    """

    layer: int
    head: int
    circuit: str
    U: Float[Tensor, "d_model d_head"]
    S: Float[Tensor, " d_head"]
    Vh: Float[Tensor, "d_head d_model"]
    fold_norm: bool = False

    def matrix(self) -> Float[Tensor, "d_model d_model"]:
        """The circuit rebuilt from its SVD, ``U diag(S) Vh``."""
        return (self.U * self.S) @ self.Vh

    def component(self, i: int) -> Float[Tensor, "d_model d_model"]:
        """The rank-1 component ``C_i = s_i u_i v_i^T``."""
        if not 0 <= i < self.S.shape[0]:
            raise ValueError(f"component {i} is out of range; expected 0 <= i < {self.S.shape[0]}")
        return self.S[i] * torch.outer(self.U[:, i], self.Vh[i])

    @property
    def df(self) -> pd.DataFrame:
        """One row per component: ``component``, ``sigma``, ``share`` (of the squared Frobenius norm)."""
        s = self.S.double()
        return pd.DataFrame(
            {
                "layer": self.layer,
                "head": self.head,
                "circuit": self.circuit,
                "component": list(range(s.shape[0])),
                "sigma": s.tolist(),
                "share": (s**2 / (s**2).sum()).tolist(),
            }
        )

    def plot(self):
        """The singular value spectrum."""
        import plotly.graph_objects as go

        fig = go.Figure(go.Bar(x=list(range(self.S.shape[0])), y=self.S.tolist()))
        fig.update_layout(
            title=f"Singular values of L{self.layer}H{self.head} {self.circuit.upper()}",
            xaxis_title="component",
            yaxis_title="sigma",
        )
        return fig

    def to_json(self) -> str:
        return json.dumps({"rows": json.loads(self.df.to_json(orient="records"))})


def _factored_svd(read: Tensor, write: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """SVD of ``read @ write`` (``[..., d_model, d_head] @ [..., d_head, d_model]``) from thin QRs."""
    q_read, r_read = torch.linalg.qr(read)
    q_write, r_write = torch.linalg.qr(write.transpose(-1, -2))
    u, s, vh = torch.linalg.svd(r_read @ r_write.transpose(-1, -2))
    return q_read @ u, s, vh @ q_write.transpose(-1, -2)


def head_svd(
    model: HookedModel | ModelWeights, head: HeadLike, circuit: Circuit = "ov", *, fold_norm: bool = False
) -> HeadSVD:
    """SVD of one head's OV (or QK) circuit, computed from its ``d_head``-wide factors.

    Args:
        model: A model or its weights.
        head: ``(layer, head)`` or ``"L1H2"``.
        circuit: ``"ov"`` or ``"qk"``.
        fold_norm: Fold the attention norm in (see the module docstring).
    """
    w = _weights(model)
    layer, h = parse_head(head, w.n_layers, w.n_heads)
    read, write = circuit_factors(w, circuit, _check_fold(fold_norm))
    U, S, Vh = _factored_svd(read[layer, h], write[layer, h])
    dtype = w.W_O.dtype
    return HeadSVD(
        layer=layer,
        head=h,
        circuit=circuit,
        U=U.to(dtype),
        S=S.to(dtype),
        Vh=Vh.to(dtype),
        fold_norm=fold_norm,
    )


def _heads(w: ModelWeights, heads: Sequence[Any] | None) -> list[tuple[int, int]]:
    if heads is None:
        return [(layer, h) for layer in range(w.n_layers) for h in range(w.n_heads)]
    if isinstance(heads, str) or (
        isinstance(heads, tuple) and len(heads) == 2 and all(isinstance(x, int) for x in heads)
    ):
        heads = [heads]
    return [parse_head(head, w.n_layers, w.n_heads) for head in heads]


@dataclass(frozen=True, kw_only=True)
class ComponentScores:
    """Merullo et al.'s per-singular-component composition scores.

    Attributes:
        df: One row per (sender, component, receiver): ``sender_layer``, ``sender_head``,
            ``component`` (0 = largest singular value), ``sigma``, ``receiver_layer``,
            ``receiver_head``, ``mode``, ``score`` (``CS_i``), ``weighted``
            (``s_i CS_i / |W_OV|_F``; over a sender's components the squares sum to the
            pair's squared composition score) and ``rank`` (1 = the component with the
            highest ``score`` for that pair).
        mode: The mode scored.
        fold_norm: Whether the norm was folded in.
    """

    df: pd.DataFrame
    mode: str
    fold_norm: bool = False

    def plot(self):
        """Heatmap: (sender, receiver) pairs by component."""
        import plotly.graph_objects as go

        df = _with_labels(self.df)
        df["pair"] = df["sender"] + "->" + df["receiver"]
        table = df.pivot_table(index="pair", columns="component", values="score", sort=False)
        fig = go.Figure(go.Heatmap(z=table.to_numpy(), x=list(table.columns), y=list(table.index)))
        fig.update_layout(title=f"{self.mode}-composition per sender OV component", xaxis_title="component")
        return fig

    def to_json(self) -> str:
        rows = json.loads(self.df.to_json(orient="records"))
        return json.dumps({"mode": self.mode, "fold_norm": self.fold_norm, "rows": rows})


def component_composition_scores(
    model: HookedModel | ModelWeights,
    senders: Sequence[Any] | HeadLike | None = None,
    receivers: Sequence[Any] | HeadLike | None = None,
    mode: Mode = "K",
    *,
    fold_norm: bool = False,
) -> ComponentScores:
    """Score each singular component of each sender's OV against each later receiver (Merullo et al.).

    ``CS_i = |C_i W_recv|_F / (|C_i|_F |W_recv|_F) = |v_i^T W_recv| / |W_recv|_F`` with
    ``W_recv`` the receiver's ``W_QK`` (Q), ``W_QK^T`` (K) or ``W_OV`` (V).

    Args:
        model: A model or its weights.
        senders: Sender heads (default: every head).
        receivers: Receiver heads (default: every head); only pairs with the sender's
            layer before the receiver's are scored.
        mode: ``"Q"``, ``"K"`` or ``"V"``.
        fold_norm: Fold the attention norm in (see the module docstring).
    """
    _check_fold(fold_norm)
    w = _weights(model)
    send, recv = _heads(w, senders), _heads(w, receivers)
    ov_read, ov_write = circuit_factors(w, "ov", fold_norm)
    read, write = _receiver_factors(w, mode, fold_norm)
    r_read, r_write = _r_factors(read, write)
    receiver_norm = (r_read @ r_write.transpose(-1, -2)).norm(dim=(-2, -1))
    frames = []
    for sl, sh in send:
        later = [(rl, rh) for rl, rh in recv if rl > sl]
        if not later:
            continue
        _, S, Vh = _factored_svd(ov_read[sl, sh], ov_write[sl, sh])
        for rl, rh in later:
            through = (Vh @ read[rl, rh]) @ r_write[rl, rh].transpose(-1, -2)
            score = through.norm(dim=-1) / receiver_norm[rl, rh]
            ranks = torch.empty_like(score, dtype=torch.long)
            ranks[score.argsort(descending=True)] = torch.arange(1, score.shape[0] + 1)
            frame = {"sender_layer": sl, "sender_head": sh, "component": range(S.shape[0]), "sigma": S}
            frame |= {"receiver_layer": rl, "receiver_head": rh, "mode": mode, "score": score}
            frame |= {"weighted": S * score / S.norm(), "rank": ranks}
            frames.append(
                pd.DataFrame({k: v.tolist() if isinstance(v, Tensor) else v for k, v in frame.items()})
            )
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COMPONENT_COLUMNS)
    return ComponentScores(df=df[COMPONENT_COLUMNS], mode=mode, fold_norm=fold_norm)


# ----------------------------------------------------------------------------- channel editing
def _check_components(components: Any, d_head: int) -> list[int]:
    if isinstance(components, int) and not isinstance(components, bool):
        components = [components]
    if isinstance(components, str) or not isinstance(components, Sequence) or not components:
        raise ValueError(f"components must be a non-empty list of component indices; got {components!r}")
    for i in components:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < d_head:
            raise ValueError(f"component {i!r} is out of range; expected integers 0 <= i < {d_head}")
    return list(components)


def _check_scale(scale: Any) -> float:
    if isinstance(scale, bool) or not isinstance(scale, int | float):
        raise TypeError(f"scale must be a real number; got {scale!r} ({type(scale).__name__})")
    return float(scale)


def _channel(w: ModelWeights, head: Any, components: Any, fold_norm: bool) -> tuple[int, int, Tensor]:
    layer, h = parse_head(head, w.n_layers, w.n_heads)
    comps = _check_components(components, w.d_head)
    read, write = circuit_factors(w, "ov", _check_fold(fold_norm))
    _, _, Vh = _factored_svd(read[layer, h], write[layer, h])
    return layer, h, Vh[comps]


def edit_ov_channel(
    model: HookedModel | ModelWeights,
    head: HeadLike,
    components: int | Sequence[int],
    scale: Any = 0.0,
    *,
    fold_norm: bool = False,
) -> ModelWeights:
    """A copy of the weights with a low-rank channel of one head's OV circuit scaled (0 removes it).

    The head's writes along the channel's output directions ``v_i`` are scaled:
    ``W_O <- W_O (I - (1 - scale) V V^T)``, so ``W_OV <- W_OV - (1 - scale) sum_i C_i``
    (the head's share of its value bias along ``v_i`` is scaled too). Run the copy with
    :func:`interp.weights.forward`; :func:`ov_channel_hooks` does the same to a live model.

    Args:
        model: A model or its weights (left unchanged).
        head: ``(layer, head)`` or ``"L1H2"``.
        components: Component indices of the head's OV SVD (0 = largest).
        scale: Factor for the channel, a real number (checked at run time).
        fold_norm: Take the components of the norm-folded circuit.
    """
    w = _weights(model)
    scale = _check_scale(scale)
    layer, h, Vh = _channel(w, head, components, fold_norm)
    W_O = w.W_O.clone()
    W_O64 = W_O[layer, h].double()
    W_O[layer, h] = (W_O64 - (1 - scale) * (W_O64 @ Vh.T) @ Vh).to(W_O.dtype)
    return replace(w, W_O=W_O)


def ov_channel_hooks(
    model: HookedModel,
    head: HeadLike,
    components: int | Sequence[int],
    scale: Any = 0.0,
    *,
    fold_norm: bool = False,
) -> list[tuple[str, Any]]:
    """Forward hooks that scale a low-rank channel of one head's output (0 removes it).

    The head's output ``z @ W_O`` is read at ``hook_z`` and its part along the
    channel's directions is scaled in ``hook_attn_out``; the result equals running
    the weights of :func:`edit_ov_channel`.
    """
    scale = _check_scale(scale)
    layer, h, Vh = _channel(model.weights, head, components, fold_norm)
    weights = torch.ones(1, Vh.shape[0], dtype=Vh.dtype, device=Vh.device)
    return _removal_hooks(model, layer, h, Vh, weights * (1 - scale))


def _removal_hooks(
    model: HookedModel, layer: int, head: int, Vh: Tensor, weights: Tensor
) -> list[tuple[str, Any]]:
    """Hooks subtracting ``weights[j, i] (o . v_i) v_i`` from batch chunk ``j`` of the attention output.

    The batch is read as ``weights.shape[0]`` equal chunks, one per variant.
    """
    W_O = model.weights.W_O[layer, head].double()
    store: dict[str, Tensor] = {}

    def grab(z: Tensor, hook: Any) -> Tensor:
        store["z"] = z[:, :, head]
        return z

    def edit(out: Tensor, hook: Any) -> Tensor:
        z = store.pop("z").double()
        coeffs = einops.einsum(z, W_O, Vh, "batch pos d_head, d_head d_model, k d_model -> batch pos k")
        coeffs = coeffs.reshape(weights.shape[0], -1, *coeffs.shape[1:]) * weights[:, None, None, :]
        removal = einops.einsum(coeffs, Vh, "variant batch pos k, k d_model -> variant batch pos d_model")
        return out - removal.reshape(out.shape).to(out.dtype)

    return [(hook_name(layer, "z"), grab), (hook_name(layer, "attn_out"), edit)]


# ----------------------------------------------------------------------------- data-based check
def _keeper(store: dict[str, Tensor]) -> Any:
    def keep(act: Tensor, hook: Any) -> Tensor:
        store[hook.name] = act.detach()
        return act

    return keep


@dataclass(frozen=True, kw_only=True)
class CommunicationCheck:
    """Weight-based predictions against measured effects on receivers.

    Attributes:
        df: One row per (sender, component, receiver): the :class:`ComponentScores`
            columns plus ``measured``, the change in the receiver when that component
            is removed from the sender's output (``Q``/``K``: total variation distance
            between the receiver's attention rows, averaged over prompts and query
            positions; ``V``: relative change of the receiver's ``z``).
        pairs: One row per (sender, receiver): ``predicted`` (the pair's composition
            score) and ``measured`` (the same change with the sender's whole output removed).
        mode: The mode.
    """

    df: pd.DataFrame
    pairs: pd.DataFrame
    mode: str

    def correlation(self, predicted: Literal["score", "weighted"] = "score") -> dict[str, dict[str, float]]:
        """Pearson and Spearman correlations of predicted and measured effects.

        Args:
            predicted: Which per-component prediction to use (``score`` is Merullo et al.'s ``CS_i``).

        Returns:
            ``{"components": {...}, "pairs": {...}}``, each with ``pearson``, ``spearman`` and ``n``.
        """

        def corr(x: pd.Series, y: pd.Series) -> dict[str, float]:
            return {
                "pearson": float(x.corr(y, method="pearson")),
                "spearman": float(x.rank().corr(y.rank(), method="pearson")),
                "n": int(len(x)),
            }

        return {
            "components": corr(self.df[predicted], self.df["measured"]),
            "pairs": corr(self.pairs["predicted"], self.pairs["measured"]),
        }

    def plot(self):
        """Scatter of predicted against measured effect, one point per (sender, component, receiver)."""
        import plotly.graph_objects as go

        df = _with_labels(self.df)
        text = df["sender"] + "#" + df["component"].astype(str) + "->" + df["receiver"]
        fig = go.Figure(go.Scatter(x=self.df["score"], y=self.df["measured"], mode="markers", text=text))
        fig.update_layout(
            title=f"{self.mode}-composition: predicted vs measured",
            xaxis_title="component composition score",
            yaxis_title="measured change in receiver",
        )
        return fig

    def to_json(self) -> str:
        rows, pairs = (json.loads(df.to_json(orient="records")) for df in (self.df, self.pairs))
        return json.dumps(
            {"mode": self.mode, "correlation": self.correlation(), "rows": rows, "pairs": pairs}
        )


def communication_check(
    model: HookedModel,
    tokens: TokensLike,
    senders: Sequence[Any] | HeadLike | None = None,
    receivers: Sequence[Any] | HeadLike | None = None,
    mode: Mode = "K",
    *,
    fold_norm: bool = False,
) -> CommunicationCheck:
    """Remove each OV component of each sender from its output and measure the change in each receiver.

    One batched forward pass per sender runs every component's removal (plus the
    whole output's removal) at once. The removal acts on the sender's output for
    the whole forward pass, so a receiver sees it through its queries, keys and values.

    Args:
        model: The model.
        tokens: Prompts or token ids ``[batch, pos]``.
        senders: Sender heads (default: every head not in the last layer).
        receivers: Receiver heads (default: every head); pairs need the sender's layer first.
        mode: The composition the predictions score (``Q``, ``K`` or ``V``); ``Q`` and ``K``
            are measured on the receiver's attention pattern, ``V`` on its ``z``.
        fold_norm: Take components and predictions of the norm-folded circuits.
    """
    if mode not in MODES:
        raise ValueError(f"unknown composition mode {mode!r}; expected one of {MODES}")
    tokens = as_tokens(model, tokens)
    w = model.weights
    send, recv = _heads(w, senders), _heads(w, receivers)
    predicted = component_composition_scores(w, send, recv, mode, fold_norm=fold_norm).df
    pair_scores = composition_scores(w, (mode,), fold_norm=fold_norm).scores[0]
    site = "z" if mode == "V" else "pattern"
    layers = sorted({rl for rl, _ in recv})
    names = [hook_name(layer, site) for layer in layers]
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=names)
    clean = {name: cache[name].double() for name in names}
    read, write = circuit_factors(w, "ov", fold_norm)
    measured: dict[tuple[int, ...], list[float]] = {}  # (sender, receiver) -> per component, then all
    for sl, sh in tqdm([s for s in send if any(rl > s[0] for rl, _ in recv)], desc="senders", leave=False):
        _, _, Vh = _factored_svd(read[sl, sh], write[sl, sh])
        k = Vh.shape[0]
        variants = torch.cat([torch.eye(k), torch.ones(1, k)]).to(Vh)
        store: dict[str, Tensor] = {}
        hooks = _removal_hooks(model, sl, sh, Vh, variants)
        hooks += [(name, _keeper(store)) for name, layer in zip(names, layers, strict=True) if layer > sl]
        with torch.no_grad():
            model.run_with_hooks(tokens.repeat(k + 1, 1), fwd_hooks=hooks)
        for rl, rh in recv:
            if rl <= sl:
                continue
            name = names[layers.index(rl)]
            base = clean[name][:, :, rh] if mode == "V" else clean[name][:, rh]
            after = store[name].double().reshape(k + 1, *clean[name].shape)
            if mode == "V":
                change = (after[:, :, :, rh] - base).norm(dim=-1).mean((1, 2)) / base.norm(dim=-1).mean()
            else:
                change = 0.5 * (after[:, :, rh] - base).abs().sum(-1).mean((1, 2))
            measured[(sl, sh, rl, rh)] = change.tolist()
    pair_index = list(zip(*(predicted[c] for c in PAIR_COLUMNS), strict=True))
    df = predicted.assign(
        measured=[measured[p][i] for p, i in zip(pair_index, predicted["component"], strict=True)]
    )
    pairs = df.drop_duplicates(PAIR_COLUMNS)[PAIR_COLUMNS].reset_index(drop=True).assign(mode=mode)
    keys = list(zip(*(pairs[c] for c in PAIR_COLUMNS), strict=True))
    pairs["predicted"] = [float(pair_scores[key]) for key in keys]
    pairs["measured"] = [measured[key][-1] for key in keys]
    return CommunicationCheck(df=df, pairs=pairs, mode=mode)
