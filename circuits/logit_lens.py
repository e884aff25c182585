"""The logit lens (nostalgebraist 2020, "interpreting GPT: the logit lens").

The residual stream before each block, and after the last, is read as if it
were the final residual: it goes through the final norm, with its own
statistics (recomputed, not the cached scale of the model's last residual),
and through the unembedding. The last entry equals the model's logits; the KL
divergence from the model's prediction to each layer's shows where the
prediction forms. Equal to TransformerLens's ``accumulated_resid`` passed
through ``apply_ln_to_stack(..., recompute_ln=True)`` and ``W_U``.

Example:
    >>> from interp.testing import tiny_model
    >>> model = tiny_model("gpt2")
    >>> lens = logit_lens(model, "t5 t6 t7", answer="t8")
    >>> lens.df["layer"].tolist()
    [0, 1, 2]
    >>> bool(lens.df["kl_to_final"].iloc[-1] < 1e-6)
    True
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from circuits.logit_attribution import (
    AnswerLike,
    TokensLike,
    _records,
    as_answers,
    as_positions,
    as_tokens,
)
from interp import HookedModel
from interp.engine.patches import hook_name
from interp.weights.forward import normalize


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
    names = [hook_name(layer, "resid_pre") for layer in range(L)] + [hook_name(L - 1, "resid_post")]
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
            hook_name(layer, "resid_pre") if layer < n_layers else hook_name(n_layers - 1, "resid_post")
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
