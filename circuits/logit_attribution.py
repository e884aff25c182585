"""Direct logit attribution, the logit lens, competing-answer head attribution and value scaling.

Direct logit attribution (DLA) splits a logit, or a logit difference, into
the direct writes of the model's components. The final norm divides the
residual stream by one scale per prompt and position; with that scale taken
from the cache (``ln_final.hook_scale``) the final norm is linear in the
residual, so the split is exact:

``logit = sum_c (c . d) / scale + ln_final.b . W_U[:, t] + b_U[t]``

with ``d = ln_final.w * W_U[:, t]``, centred across ``d_model`` when the norm
is a LayerNorm (centring each component is the same as centring ``d``) and
left as is for RMSNorm. The components ``c`` are the token and position
embeddings, each head's output ``z @ W_O``, each attention output bias
``b_O``, and each MLP output (or each neuron ``post * W_out[n]`` plus the MLP
output bias ``b_out``); a head's output can be split further by the source
position it reads from. For a logit difference ``t`` and ``d`` are replaced
by their differences.

Conventions against TransformerLens: ``ActivationCache.logit_attrs`` reads along
the raw ``W_U``, so it is exact only on a model with the norm folded in; there
weight processing also moves each head's constant write
(``(ln1.b @ W_V + b_V) @ W_O``) into ``b_O``. Here the weights are unprocessed,
the final norm's weight is applied to the direction, and that constant write
stays with its head (it is part of ``z @ W_O``).

Also here:

- :func:`logit_lens`: the residual stream before each block (and after the
  last) through the final norm (with its own statistics) and the unembedding;
- :func:`competing_answer_attribution`: each head's DLA to a memorised and to
  an in-context answer (Yu, Merullo & Pavlick 2023, "Characterizing
  Mechanisms for Factual Recall in Language Models");
- :func:`value_scaling`: scale one head's value vectors by ``alpha`` and watch
  the answer move (Yu et al.'s intervention).

Example:
    >>> from interp.testing import tiny_model
    >>> model = tiny_model("gpt2")
    >>> dla = direct_logit_attribution(model, "t5 t6 t7", answer="t8", wrong="t9")
    >>> abs(dla.sum_error) < 1e-4
    True
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import einops
import pandas as pd
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp import HookedModel, ModelWeights
from interp.weights.forward import normalize

Granularity = Literal["layer", "head", "neuron", "source_position"]
"""How finely the residual stream is split.

- ``layer``: embeddings, each layer's attention output (bias included), each MLP output.
- ``head``: embeddings, each head, each attention output bias ``b_O``, each MLP output.
- ``neuron``: as ``head`` but each MLP split into its neurons plus its output bias ``b_out``.
- ``source_position``: as ``head`` but each head split by the source (key) position it reads.
"""

GRANULARITIES: tuple[Granularity, ...] = ("layer", "head", "neuron", "source_position")

TokensLike = str | Sequence[str] | Tensor
"""A prompt, a batch of prompts, or token ids ``[batch, pos]`` / ``[pos]``."""

AnswerLike = int | str | Sequence[Any] | Tensor
"""One answer token for every prompt (id or single-token string), or one per prompt."""

HeadLike = tuple[int, int] | str
"""A head as ``(layer, head)`` or ``"L1H2"``."""


# ----------------------------------------------------------------------------- input checks
def parse_head(head: Any, n_layers: int, n_heads: int) -> tuple[int, int]:
    """``(layer, head)`` from ``(1, 2)`` or ``"L1H2"``, checked against the model's shape.

    >>> parse_head("L1H2", 2, 4)
    (1, 2)
    """
    pair: Any = head
    if isinstance(head, str):
        text = head.strip().upper()
        try:
            layer_text, head_text = text.removeprefix("L").split("H")
            pair = (int(layer_text), int(head_text))
        except ValueError:
            raise ValueError(
                f"cannot read head {head!r}; expected 'L<layer>H<head>' such as 'L1H2'"
            ) from None
    if (
        not isinstance(pair, tuple | list)
        or len(pair) != 2
        or not all(isinstance(x, int) and not isinstance(x, bool) for x in pair)
    ):
        raise ValueError(f"unknown head {head!r}; expected (layer, head) integers or a string like 'L1H2'")
    layer, index = pair
    if not 0 <= layer < n_layers:
        raise ValueError(
            f"unknown head {head!r}: layer {layer} is out of range; expected 0 <= layer < {n_layers}"
        )
    if not 0 <= index < n_heads:
        raise ValueError(
            f"unknown head {head!r}: head {index} is out of range; expected 0 <= head < {n_heads}"
        )
    return int(layer), int(index)


def as_tokens(model: HookedModel, tokens: Any) -> Int[Tensor, "batch pos"]:
    """Token ids ``[batch, pos]`` from a prompt, a batch of prompts or ids, checked against the model."""
    if isinstance(tokens, Tensor):
        return model.check_tokens(tokens)
    return model.to_tokens(tokens)


def as_answers(model: HookedModel, answer: Any, batch: int, what: str = "answer") -> Int[Tensor, " batch"]:
    """One answer id per prompt from an id, a single-token string, or one of those per prompt."""
    if isinstance(answer, Tensor):
        if answer.is_floating_point() or answer.dtype == torch.bool:
            raise ValueError(f"{what} token ids must be integers, got dtype {answer.dtype}")
        items: list[Any] = answer.reshape(-1).tolist()
    elif isinstance(answer, int | str):
        items = [answer]
    elif isinstance(answer, Sequence):
        items = list(answer)
    else:
        raise ValueError(
            f"{what} must be a token id, a single-token string or one per prompt; got {answer!r}"
        )
    ids = []
    for item in items:
        if isinstance(item, str):
            ids.append(model.to_single_token(item))
        elif isinstance(item, int) and not isinstance(item, bool):
            if not 0 <= item < model.d_vocab:
                raise ValueError(
                    f"{what} token id {item} is out of the vocabulary; expected 0 <= id < {model.d_vocab}"
                )
            ids.append(item)
        else:
            raise ValueError(f"{what} tokens must be ids or strings; got {item!r} ({type(item).__name__})")
    if len(ids) == 1:
        ids = ids * batch
    if len(ids) != batch:
        raise ValueError(f"got {len(ids)} {what} tokens for {batch} prompts; expected one, or one per prompt")
    return torch.tensor(ids, device=model.device)


def as_positions(position: Any, tokens: Tensor) -> Int[Tensor, " batch"]:
    """The position read in each prompt (negative counts from the end), checked against the length."""
    batch, n_pos = tokens.shape
    values = position.reshape(-1).tolist() if isinstance(position, Tensor) else position
    values = [values] if isinstance(values, int) else list(values)
    if not all(isinstance(p, int) and not isinstance(p, bool) for p in values):
        raise ValueError(f"positions must be integers; got {position!r}")
    if len(values) == 1:
        values = values * batch
    if len(values) != batch:
        raise ValueError(f"got {len(values)} positions for {batch} prompts; expected one, or one per prompt")
    for p in values:
        if not -n_pos <= p < n_pos:
            raise ValueError(f"position {p} is out of range for prompts of {n_pos} tokens")
    return torch.tensor([p % n_pos for p in values], device=tokens.device)


# ----------------------------------------------------------------------------- results
def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(df.to_json(orient="records"))


@dataclass(frozen=True, kw_only=True)
class LogitAttribution:
    """Direct logit attribution of one target (a logit or a logit difference) per prompt.

    Attributes:
        df: One row per (component, prompt): ``component`` (label such as ``L1H2``,
            ``L0.mlp``, ``L1N7``, ``L0H3<-2`` for source position 2, ``embed``,
            ``ln_final.b``, ``b_U``), ``kind`` (``embed``, ``pos_embed``, ``attn``,
            ``head``, ``attn_bias``, ``mlp``, ``neuron``, ``mlp_bias``, ``norm_bias``,
            ``unembed_bias``), ``layer``, ``head``, ``neuron``, ``src_pos``
            (nullable), ``prompt``, ``pos`` (the position read) and ``score``.
        values: The scores as ``[component, batch]``.
        labels: The component labels, in the order of ``values``.
        total: The target computed from the model's logits ``[batch]``; the
            scores of each prompt sum to it.
        target: A description of the target, e.g. ``"logit(t8) - logit(t9)"``.
        granularity: How finely the residual was split.
    """

    df: pd.DataFrame
    values: Float[Tensor, "component batch"]
    labels: list[str]
    total: Float[Tensor, " batch"]
    target: str
    granularity: str

    @property
    def sum_error(self) -> float:
        """Largest gap between the summed scores and the target, over prompts (0 when exact)."""
        return float((self.values.sum(0) - self.total).abs().max())

    def summary(self) -> pd.DataFrame:
        """Mean score over prompts, one row per component, in model order."""
        keys = ["component", "kind", "layer", "head", "neuron", "src_pos"]
        return self.df.groupby(keys, sort=False, dropna=False)["score"].mean().reset_index()

    def top(self, k: int = 10) -> pd.DataFrame:
        """The ``k`` components with the largest mean absolute score."""
        s = self.summary()
        return s.reindex(s["score"].abs().sort_values(ascending=False).index).head(k).reset_index(drop=True)

    def head_grid(self) -> Float[Tensor, "layer head"]:
        """Mean score of each head ``[layer, head]`` (summed over source positions when split)."""
        heads = self.df[self.df["kind"] == "head"]
        if heads.empty:
            raise ValueError(f"no per-head scores at granularity {self.granularity!r}")
        means = heads.groupby(["layer", "head"])["score"].sum() / self.total.shape[0]
        grid = torch.zeros(int(heads["layer"].max()) + 1, int(heads["head"].max()) + 1, dtype=torch.float64)
        for (layer, head), value in means.items():
            grid[int(layer), int(head)] = value
        return grid

    def plot(self, k: int = 30):
        """Bars of the ``k`` components with the largest mean absolute score, in model order."""
        import plotly.graph_objects as go

        s = self.summary()
        keep = s["score"].abs().sort_values(ascending=False).index[:k].sort_values()
        s = s.loc[keep]
        fig = go.Figure(go.Bar(x=s["component"], y=s["score"]))
        fig.update_layout(title=f"Direct logit attribution: {self.target}", yaxis_title="mean score")
        return fig

    def to_json(self) -> str:
        return json.dumps(
            {
                "target": self.target,
                "granularity": self.granularity,
                "total": self.total.tolist(),
                "rows": _records(self.df),
            }
        )


# ----------------------------------------------------------------------------- DLA
def _target_name(model: HookedModel, answer: Tensor, wrong: Tensor | None) -> str:
    def name(ids: Tensor) -> str:
        unique = sorted(set(ids.tolist()))
        return model.tokenizer.decode(unique) if len(unique) == 1 else "answer"

    return f"logit({name(answer)})" + ("" if wrong is None else f" - logit({name(wrong)})")


def _directions(
    w: ModelWeights, answer: Tensor, wrong: Tensor | None
) -> tuple[Float[Tensor, "batch d_model"], Float[Tensor, " batch"], Float[Tensor, " batch"]]:
    """The residual direction each component is read along, and the two bias terms (float64)."""
    W_U, b_U = w.W_U.double(), w.b_U.double()
    unembed = W_U[:, answer].T
    bias_U = b_U[answer]
    if wrong is not None:
        unembed = unembed - W_U[:, wrong].T
        bias_U = bias_U - b_U[wrong]
    direction = unembed * w.ln_final_w.double()
    if w.norm == "layernorm":
        direction = direction - direction.mean(-1, keepdim=True)
    if w.ln_final_b is not None:
        bias_norm = unembed @ w.ln_final_b.double()
    else:
        bias_norm = torch.zeros_like(bias_U)
    return direction, bias_norm, bias_U


def _hook_names(w: ModelWeights, granularity: str) -> list[str]:
    names = ["hook_embed", "ln_final.hook_scale"] + (["hook_pos_embed"] if w.W_pos is not None else [])
    for layer in range(w.n_layers):
        if granularity == "layer":
            names.append(f"blocks.{layer}.hook_attn_out")
        elif granularity == "source_position":
            names += [f"blocks.{layer}.attn.hook_pattern", f"blocks.{layer}.attn.hook_v"]
        else:
            names.append(f"blocks.{layer}.attn.hook_z")
        names.append(
            f"blocks.{layer}.mlp.hook_post" if granularity == "neuron" else f"blocks.{layer}.hook_mlp_out"
        )
    return names


def attribution_values(
    model: HookedModel,
    cache: Any,
    direction: Float[Tensor, "batch d_model"],
    positions: Int[Tensor, " batch"],
    granularity: Granularity = "head",
) -> tuple[list[dict[str, Any]], Float[Tensor, "component batch"]]:
    """Each component's direct write along ``direction`` at ``positions``, divided by the final-norm scale.

    Args:
        model: The model the cache comes from.
        cache: An ``ActivationCache`` holding the hooks :func:`direct_logit_attribution` reads.
        direction: The residual direction per prompt (already multiplied by the final norm's
            weight and centred for LayerNorm), float64.
        positions: The position read in each prompt.
        granularity: How finely to split.

    Returns:
        Row descriptions (``component, kind, layer, head, neuron, src_pos``) and the scores
        ``[component, batch]`` (float64). Bias terms of the unembedding are not included.
    """
    w = model.weights
    rows = torch.arange(positions.shape[0], device=positions.device)
    scale = cache["ln_final.hook_scale"][rows, positions, 0].double()
    d = direction / scale[:, None]

    def at(name: str) -> Tensor:
        return cache[name][rows, positions].double()

    meta: list[dict[str, Any]] = []
    values: list[Tensor] = []

    def add(label: str, kind: str, value: Tensor, layer=None, head=None, neuron=None, src_pos=None) -> None:
        meta.append(
            {
                "component": label,
                "kind": kind,
                "layer": layer,
                "head": head,
                "neuron": neuron,
                "src_pos": src_pos,
            }
        )
        values.append(value)

    add("embed", "embed", (at("hook_embed") * d).sum(-1))
    if w.W_pos is not None:
        add("pos_embed", "pos_embed", (at("hook_pos_embed") * d).sum(-1))
    for layer in range(w.n_layers):
        W_O = w.W_O[layer].double()
        b_O = w.b_O[layer].double()
        if granularity == "layer":
            add(f"L{layer}.attn", "attn", (at(f"blocks.{layer}.hook_attn_out") * d).sum(-1), layer=layer)
        elif granularity == "source_position":
            pattern = cache[f"blocks.{layer}.attn.hook_pattern"][rows, :, positions].double()
            v = cache[f"blocks.{layer}.attn.hook_v"].double()
            v = v.repeat_interleave(w.n_heads // v.shape[2], dim=2)
            head_dir = einops.einsum(W_O, d, "head d_head d_model, batch d_model -> batch head d_head")
            per_src = einops.einsum(v, head_dir, "batch src head d_head, batch head d_head -> batch head src")
            per_src = per_src * pattern
            for h in range(w.n_heads):
                for src in range(per_src.shape[-1]):
                    add(f"L{layer}H{h}<-{src}", "head", per_src[:, h, src], layer=layer, head=h, src_pos=src)
        else:
            z = at(f"blocks.{layer}.attn.hook_z")
            per_head = einops.einsum(
                z, W_O, d, "batch head d_head, head d_head d_model, batch d_model -> head batch"
            )
            for h in range(w.n_heads):
                add(f"L{layer}H{h}", "head", per_head[h], layer=layer, head=h)
        if granularity != "layer":
            add(f"L{layer}.attn_bias", "attn_bias", d @ b_O, layer=layer)
        if granularity == "neuron":
            post = at(f"blocks.{layer}.mlp.hook_post")
            per_neuron = post * (d @ w.W_out[layer].double().T)
            for n in range(per_neuron.shape[-1]):
                add(f"L{layer}N{n}", "neuron", per_neuron[:, n], layer=layer, neuron=n)
            add(f"L{layer}.mlp_bias", "mlp_bias", d @ w.b_out[layer].double(), layer=layer)
        else:
            add(f"L{layer}.mlp", "mlp", (at(f"blocks.{layer}.hook_mlp_out") * d).sum(-1), layer=layer)
    return meta, torch.stack(values)


def direct_logit_attribution(
    model: HookedModel,
    tokens: TokensLike,
    answer: AnswerLike,
    wrong: AnswerLike | None = None,
    *,
    position: int | Sequence[int] | Tensor = -1,
    granularity: Granularity = "head",
) -> LogitAttribution:
    """Split the answer's logit (or ``logit(answer) - logit(wrong)``) into the components' direct writes.

    The final norm's scale is read from the cache, so the scores, with the final
    norm's bias term and the unembedding bias, sum exactly to the target.

    Args:
        model: The model.
        tokens: Prompts or token ids ``[batch, pos]``.
        answer: The answer token (id or single-token string), or one per prompt.
        wrong: A competing token, or one per prompt: the target becomes the logit difference.
        position: The position whose prediction is attributed (default: the last), or one per prompt.
        granularity: How finely to split (see :data:`Granularity`).

    Returns:
        A :class:`LogitAttribution`.

    Raises:
        ValueError: An unknown granularity, a token out of the vocabulary, or a bad position.
    """
    if granularity not in GRANULARITIES:
        raise ValueError(f"unknown granularity {granularity!r}; expected one of {GRANULARITIES}")
    tokens = as_tokens(model, tokens)
    batch = tokens.shape[0]
    answer_ids = as_answers(model, answer, batch, "answer")
    wrong_ids = None if wrong is None else as_answers(model, wrong, batch, "wrong")
    positions = as_positions(position, tokens)
    meta, values, total = _attribute(model, tokens, answer_ids, wrong_ids, positions, granularity)
    return LogitAttribution(
        df=_tidy(meta, values, positions),
        values=values.cpu(),
        labels=[m["component"] for m in meta],
        total=total.cpu(),
        target=_target_name(model, answer_ids, wrong_ids),
        granularity=granularity,
    )


def _attribute(
    model: HookedModel,
    tokens: Tensor,
    answer_ids: Tensor,
    wrong_ids: Tensor | None,
    positions: Tensor,
    granularity: Granularity,
) -> tuple[list[dict[str, Any]], Tensor, Tensor]:
    """Rows, scores ``[component, batch]`` (bias terms last) and the target from the logits."""
    w = model.weights
    with torch.no_grad():
        logits, cache = model.run_with_cache(tokens, names_filter=_hook_names(w, granularity))
        direction, bias_norm, bias_U = _directions(w, answer_ids, wrong_ids)
        meta, values = attribution_values(model, cache, direction, positions, granularity)
    meta += [
        {"component": "ln_final.b", "kind": "norm_bias"},
        {"component": "b_U", "kind": "unembed_bias"},
    ]
    values = torch.cat([values, bias_norm[None], bias_U[None]])
    rows = torch.arange(tokens.shape[0], device=tokens.device)
    final = logits[rows, positions].double()
    total = final[rows, answer_ids] - (0 if wrong_ids is None else final[rows, wrong_ids])
    return meta, values, total


def _tidy(meta: list[dict[str, Any]], values: Tensor, positions: Tensor) -> pd.DataFrame:
    n_comp, batch = values.shape
    base = pd.DataFrame(meta).reindex(columns=["component", "kind", "layer", "head", "neuron", "src_pos"])
    for col in ("layer", "head", "neuron", "src_pos"):
        base[col] = base[col].astype("Int64")
    df = base.loc[base.index.repeat(batch)].reset_index(drop=True)
    df["prompt"] = list(range(batch)) * n_comp
    df["pos"] = positions.tolist() * n_comp
    df["score"] = values.reshape(-1).tolist()
    return df


# ----------------------------------------------------------------------------- logit lens
@dataclass(frozen=True, kw_only=True)
class LogitLens:
    """The logit lens: what the residual stream before each block would predict.

    Attributes:
        df: One row per (layer, prompt): ``layer`` (the residual before block ``layer``;
            ``n_layers`` is the final residual), ``site`` (its hook name), ``prompt``,
            ``pos``, ``top_token``, ``top_prob``, ``kl_to_final`` (KL from the model's
            prediction to the lens's, nats) and, when an answer is given,
            ``answer_logit``, ``answer_prob``, ``answer_rank`` (0 = top) and, with a
            wrong token, ``logit_diff``.
    """

    df: pd.DataFrame

    def plot(self, column: str | None = None):
        """Mean of ``column`` (default: the answer's probability, else ``kl_to_final``) per layer."""
        import plotly.graph_objects as go

        if column is None:
            column = "answer_prob" if "answer_prob" in self.df else "kl_to_final"
        if column not in self.df:
            raise ValueError(
                f"no column {column!r} in the logit lens; expected one of {list(self.df.columns)}"
            )
        mean = self.df.groupby("layer")[column].mean()
        fig = go.Figure(go.Scatter(x=mean.index.tolist(), y=mean.tolist(), mode="lines+markers"))
        fig.update_layout(title="Logit lens", xaxis_title="residual before layer", yaxis_title=column)
        return fig

    def to_json(self) -> str:
        return json.dumps({"rows": _records(self.df)})


def lens_logits(
    model: HookedModel, tokens: TokensLike, position: int | Sequence[int] | Tensor = -1
) -> Float[Tensor, "layer batch d_vocab"]:
    """Logits of the residual before each block and after the last, at ``position``.

    Each residual goes through the final norm with its own statistics and the unembedding;
    the last entry equals the model's logits.
    """
    tokens = as_tokens(model, tokens)
    positions = as_positions(position, tokens)
    w = model.weights
    L = w.n_layers
    names = [f"blocks.{layer}.hook_resid_pre" for layer in range(L)] + [f"blocks.{L - 1}.hook_resid_post"]
    rows = torch.arange(tokens.shape[0], device=tokens.device)
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=names)
        resid = torch.stack([cache[name][rows, positions] for name in names])
        normed = normalize(resid, w.ln_final_w, w.ln_final_b, w.norm_eps)
        return normed @ w.W_U + w.b_U


def logit_lens(
    model: HookedModel,
    tokens: TokensLike,
    answer: AnswerLike | None = None,
    wrong: AnswerLike | None = None,
    *,
    position: int | Sequence[int] | Tensor = -1,
) -> LogitLens:
    """The logit lens (nostalgebraist 2020) per layer, with the final norm applied.

    Args:
        model: The model.
        tokens: Prompts or token ids ``[batch, pos]``.
        answer: Optional answer token(s) to follow through the layers.
        wrong: Optional competing token(s) (adds ``logit_diff``; needs ``answer``).
        position: The position read (default: the last), or one per prompt.
    """
    tokens = as_tokens(model, tokens)
    batch = tokens.shape[0]
    positions = as_positions(position, tokens)
    if wrong is not None and answer is None:
        raise ValueError("a wrong token needs an answer token to compare with")
    answer_ids = None if answer is None else as_answers(model, answer, batch, "answer")
    wrong_ids = None if wrong is None else as_answers(model, wrong, batch, "wrong")
    logits = lens_logits(model, tokens, positions).double()
    logprobs = logits.log_softmax(-1)
    final = logprobs[-1]
    kl = (final.exp() * (final - logprobs)).sum(-1)
    top_prob, top_id = logprobs.exp().max(-1)
    n_layers = model.weights.n_layers
    data: dict[str, Any] = {
        "layer": [layer for layer in range(n_layers + 1) for _ in range(batch)],
        "site": [
            f"blocks.{layer}.hook_resid_pre" if layer < n_layers else f"blocks.{n_layers - 1}.hook_resid_post"
            for layer in range(n_layers + 1)
            for _ in range(batch)
        ],
        "prompt": list(range(batch)) * (n_layers + 1),
        "pos": positions.tolist() * (n_layers + 1),
        "top_token": [model.tokenizer.decode([i]) for i in top_id.reshape(-1).tolist()],
        "top_prob": top_prob.reshape(-1).tolist(),
        "kl_to_final": kl.reshape(-1).tolist(),
    }
    if answer_ids is not None:
        rows = torch.arange(batch, device=logits.device)
        answer_logit = logits[:, rows, answer_ids]
        data["answer_logit"] = answer_logit.reshape(-1).tolist()
        data["answer_prob"] = logprobs[:, rows, answer_ids].exp().reshape(-1).tolist()
        data["answer_rank"] = (logits > answer_logit[..., None]).sum(-1).reshape(-1).tolist()
        if wrong_ids is not None:
            data["logit_diff"] = (answer_logit - logits[:, rows, wrong_ids]).reshape(-1).tolist()
    return LogitLens(df=pd.DataFrame(data))


# ----------------------------------------------------------------------------- Yu et al.
@dataclass(frozen=True, kw_only=True)
class CompetingAnswers:
    """Each head's direct logit attribution to a memorised and an in-context answer.

    Attributes:
        df: One row per head: ``layer``, ``head``, ``memorised`` and ``in_context``
            (mean DLA to each answer's logit), ``difference`` (in_context - memorised,
            the head's push towards the in-context answer), ``n_prompts``.
        memorised: Per-head, per-prompt DLA to the memorised answer ``[layer, head, batch]``.
        in_context: The same for the in-context answer.
    """

    df: pd.DataFrame
    memorised: Float[Tensor, "layer head batch"]
    in_context: Float[Tensor, "layer head batch"]

    def plot(self):
        """Heatmap of each head's push towards the in-context answer (in_context - memorised)."""
        import plotly.graph_objects as go

        grid = (self.in_context - self.memorised).mean(-1)
        fig = go.Figure(
            go.Heatmap(
                z=grid.numpy(),
                x=[f"H{h}" for h in range(grid.shape[1])],
                y=[f"L{layer}" for layer in range(grid.shape[0])],
                colorscale="RdBu",
                zmid=0,
            )
        )
        fig.update_yaxes(autorange="reversed")
        fig.update_layout(title="Head DLA: in-context minus memorised answer")
        return fig

    def to_json(self) -> str:
        return json.dumps({"rows": _records(self.df)})


def competing_answer_attribution(
    model: HookedModel,
    tokens: TokensLike,
    memorised: AnswerLike,
    in_context: AnswerLike,
    *,
    position: int | Sequence[int] | Tensor = -1,
) -> CompetingAnswers:
    """Head attribution between two competing answers (Yu, Merullo & Pavlick 2023).

    Yu et al. set a memorised answer (a fact the model knows) against an answer
    given in the context, score each head by its direct logit attribution to both,
    and find heads that promote one over the other.

    Args:
        model: The model.
        tokens: Prompts or token ids ``[batch, pos]``.
        memorised: The memorised answer token(s), one or one per prompt.
        in_context: The in-context answer token(s).
        position: The position whose prediction is attributed (default: the last).
    """
    tokens = as_tokens(model, tokens)
    batch = tokens.shape[0]
    positions = as_positions(position, tokens)
    grids = []
    for answer, what in ((memorised, "memorised"), (in_context, "in_context")):
        ids = as_answers(model, answer, batch, what)
        meta, values, _ = _attribute(model, tokens, ids, None, positions, "head")
        keep = [i for i, m in enumerate(meta) if m["kind"] == "head"]
        grids.append(values[keep].reshape(model.n_layers, model.n_heads, batch).cpu())
    mem, ctx = grids
    df = pd.DataFrame(
        {
            "layer": [layer for layer in range(model.n_layers) for _ in range(model.n_heads)],
            "head": list(range(model.n_heads)) * model.n_layers,
            "memorised": mem.mean(-1).reshape(-1).tolist(),
            "in_context": ctx.mean(-1).reshape(-1).tolist(),
            "difference": (ctx - mem).mean(-1).reshape(-1).tolist(),
            "n_prompts": mem.shape[-1],
        }
    )
    return CompetingAnswers(df=df, memorised=mem, in_context=ctx)


# ----------------------------------------------------------------------------- value scaling
@dataclass(frozen=True, kw_only=True)
class ValueScaling:
    """How the answer moves as one head's value vectors are scaled by ``alpha``.

    Attributes:
        df: One row per (alpha, prompt): ``alpha``, ``prompt``, ``answer_logit``,
            ``answer_prob``, ``answer_wins`` (the answer beats the wrong token, or is the
            top prediction when no wrong token is given) and, with a wrong token,
            ``logit_diff``.
        head: The scaled head ``(layer, head)``.
    """

    df: pd.DataFrame
    head: tuple[int, int]

    def summary(self) -> pd.DataFrame:
        """Means per alpha (``answer_wins`` becomes the rate at which the answer wins)."""
        return self.df.drop(columns="prompt").groupby("alpha").mean().reset_index()

    def plot(self, column: str = "answer_prob"):
        """Mean of ``column`` against alpha."""
        import plotly.graph_objects as go

        s = self.summary()
        if column not in s:
            raise ValueError(f"no column {column!r}; expected one of {list(s.columns)}")
        fig = go.Figure(go.Scatter(x=s["alpha"], y=s[column], mode="lines+markers"))
        layer, head = self.head
        fig.update_layout(title=f"Value scaling of L{layer}H{head}", xaxis_title="alpha", yaxis_title=column)
        return fig

    def to_json(self) -> str:
        return json.dumps({"head": list(self.head), "rows": _records(self.df)})


def _check_alphas(alphas: Any) -> list[float]:
    if isinstance(alphas, Tensor):
        alphas = alphas.reshape(-1).tolist()
    if isinstance(alphas, int | float) and not isinstance(alphas, bool):
        alphas = [alphas]
    if isinstance(alphas, str) or not isinstance(alphas, Sequence) or len(alphas) == 0:
        raise TypeError(f"alphas must be a non-empty list of real numbers; got {alphas!r}")
    for a in alphas:
        if isinstance(a, bool) or not isinstance(a, int | float):
            raise TypeError(f"alpha must be a real number; got {a!r} ({type(a).__name__})")
        if a != a or a in (float("inf"), float("-inf")):
            raise ValueError(f"alpha must be finite; got {a!r}")
    return [float(a) for a in alphas]


def value_scaling_hooks(
    model: HookedModel, head: HeadLike, alpha: Any, site: Literal["v", "z"] | None = None
) -> list[tuple[str, Any]]:
    """Forward hooks that scale one head's value vectors by ``alpha``.

    A head's output is linear in its values, so scaling ``hook_v`` of the head
    equals scaling its ``hook_z``. With grouped-query attention a value head is
    shared by several query heads, so only ``hook_z`` scales one head alone.

    Args:
        model: The model.
        head: ``(layer, head)`` or ``"L1H2"``.
        alpha: The factor, a real number (checked at run time).
        site: ``"v"`` or ``"z"`` (default: ``"v"`` without grouped-query attention, else ``"z"``).
    """
    (alpha,) = _check_alphas([alpha])
    layer, h = parse_head(head, model.n_layers, model.n_heads)
    grouped = model.n_kv_heads != model.n_heads
    site = site or ("z" if grouped else "v")
    if site not in ("v", "z"):
        raise ValueError(f"unknown site {site!r}; expected 'v' or 'z'")
    if site == "v" and grouped:
        raise ValueError(
            f"hook_v of L{layer}H{h} is shared by {model.n_heads // model.n_kv_heads} query heads "
            "(grouped-query attention); scale hook_z (site='z') to scale one head"
        )

    def hook(act: Tensor, hook: Any) -> Tensor:
        act = act.clone()
        act[:, :, h] = act[:, :, h] * alpha
        return act

    return [(f"blocks.{layer}.attn.hook_{site}", hook)]


def value_scaling(
    model: HookedModel,
    tokens: TokensLike,
    head: HeadLike,
    alphas: float | Sequence[Any] | Tensor,
    answer: AnswerLike,
    wrong: AnswerLike | None = None,
    *,
    position: int | Sequence[int] | Tensor = -1,
) -> ValueScaling:
    """Scale one head's value vectors by each ``alpha`` and report the answer's logit and probability.

    Yu et al. (2023) scale the value vectors of a head that promotes the in-context
    answer and raise the rate at which the model gives it.

    Args:
        model: The model.
        tokens: Prompts or token ids ``[batch, pos]``.
        head: ``(layer, head)`` or ``"L1H2"``.
        alphas: The factors (1 leaves the model unchanged, 0 removes the head's output).
        answer: The answer token(s) followed.
        wrong: Optional competing token(s): adds ``logit_diff`` and makes ``answer_wins`` a comparison.
        position: The position read (default: the last), or one per prompt.

    Raises:
        TypeError: ``alphas`` is not a list of real numbers.
        ValueError: An unknown head, a token out of the vocabulary, or a bad position.
    """
    alpha_list = _check_alphas(alphas)
    layer, h = parse_head(head, model.n_layers, model.n_heads)
    tokens = as_tokens(model, tokens)
    batch = tokens.shape[0]
    answer_ids = as_answers(model, answer, batch, "answer")
    wrong_ids = None if wrong is None else as_answers(model, wrong, batch, "wrong")
    positions = as_positions(position, tokens)
    rows = torch.arange(batch, device=tokens.device)
    frames = []
    for alpha in alpha_list:
        with torch.no_grad():
            logits = model.run_with_hooks(tokens, fwd_hooks=value_scaling_hooks(model, (layer, h), alpha))
        final = logits[rows, positions].double()
        answer_logit = final[rows, answer_ids]
        frame: dict[str, Any] = {
            "alpha": alpha,
            "prompt": list(range(batch)),
            "answer_logit": answer_logit.tolist(),
            "answer_prob": final.softmax(-1)[rows, answer_ids].tolist(),
        }
        if wrong_ids is not None:
            diff = answer_logit - final[rows, wrong_ids]
            frame["logit_diff"] = diff.tolist()
            frame["answer_wins"] = (diff > 0).tolist()
        else:
            frame["answer_wins"] = (final.argmax(-1) == answer_ids).tolist()
        frames.append(pd.DataFrame(frame))
    return ValueScaling(df=pd.concat(frames, ignore_index=True), head=(layer, h))
