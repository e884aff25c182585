"""Direct logit attribution: a logit, or a logit difference, split exactly into component writes.

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

This module also holds the input checks shared by the attribution modules
(:func:`parse_head`, :func:`as_tokens`, :func:`as_answers`, :func:`as_positions`).
Related: :mod:`circuits.logit_lens` (the logit lens) and :mod:`circuits.value_scaling`
(Yu et al.'s competing-answer head attribution and value scaling).

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

from circuits.heads.scores import head_name
from interp import HookedModel, ModelWeights
from interp.engine.patches import hook_name

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
        fig = go.Figure(
            go.Bar(x=s["component"], y=s["score"], texttemplate="%{y:.2f}", textposition="outside")
        )
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
            names.append(hook_name(layer, "attn_out"))
        elif granularity == "source_position":
            names += [hook_name(layer, "pattern"), hook_name(layer, "v")]
        else:
            names.append(hook_name(layer, "z"))
        names.append(hook_name(layer, "mlp_post") if granularity == "neuron" else hook_name(layer, "mlp_out"))
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
            add(f"L{layer}.attn", "attn", (at(hook_name(layer, "attn_out")) * d).sum(-1), layer=layer)
        elif granularity == "source_position":
            pattern = cache[hook_name(layer, "pattern")][rows, :, positions].double()
            v = cache[hook_name(layer, "v")].double()
            v = v.repeat_interleave(w.n_heads // v.shape[2], dim=2)
            head_dir = einops.einsum(W_O, d, "head d_head d_model, batch d_model -> batch head d_head")
            per_src = einops.einsum(v, head_dir, "batch src head d_head, batch head d_head -> batch head src")
            per_src = per_src * pattern
            for h in range(w.n_heads):
                for src in range(per_src.shape[-1]):
                    add(f"L{layer}H{h}<-{src}", "head", per_src[:, h, src], layer=layer, head=h, src_pos=src)
        else:
            z = at(hook_name(layer, "z"))
            per_head = einops.einsum(
                z, W_O, d, "batch head d_head, head d_head d_model, batch d_model -> head batch"
            )
            for h in range(w.n_heads):
                add(head_name(layer, h), "head", per_head[h], layer=layer, head=h)
        if granularity != "layer":
            add(f"L{layer}.attn_bias", "attn_bias", d @ b_O, layer=layer)
        if granularity == "neuron":
            post = at(hook_name(layer, "mlp_post"))
            per_neuron = post * (d @ w.W_out[layer].double().T)
            for n in range(per_neuron.shape[-1]):
                add(f"L{layer}N{n}", "neuron", per_neuron[:, n], layer=layer, neuron=n)
            add(f"L{layer}.mlp_bias", "mlp_bias", d @ w.b_out[layer].double(), layer=layer)
        else:
            add(f"L{layer}.mlp", "mlp", (at(hook_name(layer, "mlp_out")) * d).sum(-1), layer=layer)
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


def task_logit_attribution(
    model: HookedModel, task: Any, granularity: Granularity = "head"
) -> LogitAttribution:
    """:func:`direct_logit_attribution` of a task's logit difference (answer minus wrong answer), read at
    each prompt's own position.

    Args:
        model: The model.
        task: A :class:`circuits.tasks.Task` (clean prompts, answers, wrong answers, positions).
        granularity: How finely to split (see :data:`Granularity`).
    """
    return direct_logit_attribution(
        model,
        task.clean_tokens,
        task.answer_tokens,
        task.wrong_tokens,
        position=task.positions,
        granularity=granularity,
    )
