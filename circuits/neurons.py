"""MLP neurons read through the unembedding, and their direct logit attribution.

Each MLP neuron ``n`` of layer ``l`` writes ``post[l, n] * W_out[l, n]`` to the
residual stream. Projecting that output weight vector through the unembedding,
``W_out[l, n] @ W_U``, shows which tokens the neuron promotes and suppresses
(Davies 2025, after Geva et al. 2022). With ``fold_norm=True`` (the default) the
final norm's weight is folded in and, for LayerNorm, the vector is centred,
so the scores are the neuron's direct effect on each logit per unit of
activation, up to the positive per-position scale of the final norm.

:func:`neuron_attribution` gives each neuron's exact direct logit attribution
on given prompts (see :mod:`circuits.logit_attribution`), with its activation.

Example:
    >>> from interp.testing import tiny_model
    >>> model = tiny_model("gpt2")
    >>> decoded = decode_neurons(model, layers=[1], neurons=[0, 1], k=3)
    >>> decoded.df[["layer", "neuron", "direction", "rank"]].values.tolist()[0]
    [1, 0, 'top', 0]
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from circuits.logit_attribution import (
    AnswerLike,
    TokensLike,
    as_positions,
    as_tokens,
    direct_logit_attribution,
)
from interp import HookedModel, ModelWeights
from interp.engine.patches import hook_name


def _weights(model: HookedModel | ModelWeights) -> ModelWeights:
    return model if isinstance(model, ModelWeights) else model.weights


def _check_layers(w: ModelWeights, layers: Any) -> list[int]:
    if layers is None:
        return list(range(w.n_layers))
    layers = [layers] if isinstance(layers, int) else list(layers)
    for layer in layers:
        if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < w.n_layers:
            raise ValueError(f"layer {layer!r} is out of range; expected 0 <= layer < {w.n_layers}")
    return layers


def neuron_logit_weights(
    model: HookedModel | ModelWeights, layer: int, *, fold_norm: bool = True
) -> Float[Tensor, "d_mlp d_vocab"]:
    """Every neuron of ``layer`` through the unembedding, ``W_out[layer] @ W_U``.

    Args:
        model: A model or its weights.
        layer: The MLP layer.
        fold_norm: Fold the final norm's weight in and, for LayerNorm, centre each
            output vector first (the neuron's direct logit effect per unit of
            activation, before the final norm's scale).
    """
    w = _weights(model)
    (layer,) = _check_layers(w, [layer])
    W_out = w.W_out[layer]
    if fold_norm:
        if w.norm == "layernorm":
            W_out = W_out - W_out.mean(-1, keepdim=True)
        W_out = W_out * w.ln_final_w
    return W_out @ w.W_U


@dataclass(frozen=True, kw_only=True)
class NeuronTokens:
    """The tokens each neuron promotes (``top``) and suppresses (``bottom``) through the unembedding.

    Attributes:
        df: One row per (layer, neuron, direction, rank): ``token_id``, ``token``
            and ``score`` (the entry of ``W_out[l, n] @ W_U``).
        fold_norm: Whether the final norm was folded in.
    """

    df: pd.DataFrame
    fold_norm: bool = True

    def tokens(self, layer: int, neuron: int, direction: Literal["top", "bottom"] = "top") -> list[str]:
        """The decoded tokens of one neuron, best first."""
        df = self.df
        rows = df[(df["layer"] == layer) & (df["neuron"] == neuron) & (df["direction"] == direction)]
        if rows.empty:
            raise ValueError(f"neuron L{layer}N{neuron} was not decoded")
        return rows.sort_values("rank")["token"].tolist()

    def plot(self):
        """A table: one line per neuron with its top and bottom tokens."""
        import plotly.graph_objects as go

        groups = (
            self.df.groupby(["layer", "neuron", "direction"], sort=False)["token"].apply(" ".join).unstack()
        )
        names = [f"L{layer}N{n}" for layer, n in groups.index]
        fig = go.Figure(
            go.Table(
                header={"values": ["neuron", "promotes", "suppresses"]},
                cells={"values": [names, groups["top"].tolist(), groups["bottom"].tolist()]},
            )
        )
        fig.update_layout(title="MLP neurons through the unembedding")
        return fig

    def to_json(self) -> str:
        return json.dumps(
            {"fold_norm": self.fold_norm, "rows": json.loads(self.df.to_json(orient="records"))}
        )


def decode_neurons(
    model: HookedModel,
    layers: int | Sequence[int] | None = None,
    neurons: Sequence[int] | None = None,
    k: int = 10,
    *,
    fold_norm: bool = True,
) -> NeuronTokens:
    """The ``k`` tokens each neuron promotes most and suppresses most (Davies 2025).

    Args:
        model: The model (its tokenizer names the tokens).
        layers: MLP layers to decode (default: all).
        neurons: Neuron indices within each layer (default: all).
        k: Tokens per neuron and direction.
        fold_norm: See :func:`neuron_logit_weights`.
    """
    w = model.weights
    layers = _check_layers(w, layers)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= w.d_vocab:
        raise ValueError(f"k={k!r} must be an integer with 1 <= k <= d_vocab={w.d_vocab}")
    index = list(range(w.d_mlp)) if neurons is None else list(neurons)
    bad = [n for n in index if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < w.d_mlp]
    if bad or not index:
        raise ValueError(f"neuron(s) {bad or index} out of range; expected integers 0 <= n < d_mlp={w.d_mlp}")
    frames = []
    for layer in layers:
        with torch.no_grad():
            scores = neuron_logit_weights(w, layer, fold_norm=fold_norm)[index]
        for direction, largest in (("top", True), ("bottom", False)):
            values, ids = scores.topk(k, dim=-1, largest=largest)
            flat = ids.reshape(-1).tolist()
            frames.append(
                pd.DataFrame(
                    {
                        "layer": layer,
                        "neuron": [n for n in index for _ in range(k)],
                        "direction": direction,
                        "rank": list(range(k)) * len(index),
                        "token_id": flat,
                        "token": [model.tokenizer.decode([i]) for i in flat],
                        "score": values.reshape(-1).tolist(),
                    }
                )
            )
    df = pd.concat(frames, ignore_index=True)
    df = df.sort_values(["layer", "neuron", "direction"], kind="stable", key=_direction_order).reset_index(
        drop=True
    )
    return NeuronTokens(df=df, fold_norm=fold_norm)


def _direction_order(column: pd.Series) -> pd.Series:
    return column.map({"top": 0, "bottom": 1}) if column.name == "direction" else column


@dataclass(frozen=True, kw_only=True)
class NeuronAttribution:
    """Each neuron's direct logit attribution and activation on some prompts.

    Attributes:
        df: One row per (layer, neuron, prompt): ``activation`` (``mlp.hook_post`` at
            the position read) and ``score`` (its exact direct logit attribution).
        target: What was attributed, e.g. ``"logit(t8) - logit(t9)"``.
    """

    df: pd.DataFrame
    target: str

    def summary(self) -> pd.DataFrame:
        """Mean activation and score per neuron, largest absolute score first."""
        s = self.df.groupby(["layer", "neuron"])[["activation", "score"]].mean().reset_index()
        return s.reindex(s["score"].abs().sort_values(ascending=False).index).reset_index(drop=True)

    def plot(self, k: int = 30):
        """Bars of the ``k`` neurons with the largest mean absolute score."""
        import plotly.graph_objects as go

        s = self.summary().head(k)
        fig = go.Figure(
            go.Bar(x=[f"L{a}N{b}" for a, b in zip(s["layer"], s["neuron"], strict=True)], y=s["score"])
        )
        fig.update_layout(title=f"Neuron direct logit attribution: {self.target}", yaxis_title="mean score")
        return fig

    def to_json(self) -> str:
        return json.dumps({"target": self.target, "rows": json.loads(self.df.to_json(orient="records"))})


def neuron_attribution(
    model: HookedModel,
    tokens: TokensLike,
    answer: AnswerLike,
    wrong: AnswerLike | None = None,
    *,
    position: int | Sequence[int] | Tensor = -1,
) -> NeuronAttribution:
    """Neuron-level direct logit attribution, with each neuron's activation.

    Args:
        model: The model.
        tokens: Prompts or token ids ``[batch, pos]``.
        answer: The answer token(s); ``wrong`` optional competing token(s).
        wrong: A competing token, or one per prompt (the target is the logit difference).
        position: The position read (default: the last), or one per prompt.
    """
    tokens = as_tokens(model, tokens)
    positions = as_positions(position, tokens)
    dla = direct_logit_attribution(model, tokens, answer, wrong, position=positions, granularity="neuron")
    df = dla.df[dla.df["kind"] == "neuron"][["layer", "neuron", "prompt", "pos", "score"]]
    df = df.astype({"layer": int, "neuron": int}).reset_index(drop=True)
    names = [hook_name(layer, "mlp_post") for layer in range(model.n_layers)]
    rows = torch.arange(tokens.shape[0], device=tokens.device)
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=names)
    post = torch.stack([cache[name][rows, positions] for name in names])  # [layer, batch, d_mlp]
    df["activation"] = post.permute(0, 2, 1).reshape(-1).tolist()
    return NeuronAttribution(
        df=df[["layer", "neuron", "prompt", "pos", "activation", "score"]], target=dla.target
    )
