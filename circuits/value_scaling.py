"""Head attribution between competing answers and value scaling (Yu, Merullo & Pavlick 2023).

Yu et al., "Characterizing Mechanisms for Factual Recall in Language Models",
set a memorised answer (a fact the model knows) against an answer given in the
context. :func:`competing_answer_attribution` scores each head by its direct
logit attribution (:mod:`circuits.logit_attribution`) to both answers, which
finds heads that promote one over the other; :func:`value_scaling` scales one
head's value vectors by ``alpha`` and follows the answer, Yu et al.'s
intervention (scaling such a head raises the rate at which the model gives the
in-context answer). :func:`value_scaling_hooks` gives the hooks alone.

Example:
    >>> from interp.testing import tiny_model
    >>> model = tiny_model("gpt2")
    >>> result = value_scaling(model, "t5 t6 t7", "L1H2", [0.0, 1.0, 2.0], answer="t8")
    >>> result.summary()["alpha"].tolist()
    [0.0, 1.0, 2.0]
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
    HeadLike,
    TokensLike,
    _attribute,
    _records,
    as_answers,
    as_positions,
    as_tokens,
    parse_head,
)
from interp import HookedModel
from interp.engine.patches import hook_name


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

    return [(hook_name(layer, site), hook)]


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
