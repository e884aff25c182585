"""Linear probes (scikit-learn), probe directions as steering vectors, and Gould et al.'s mod-10 features.

- :func:`fit_probe` fits a logistic-regression (classification) or ridge
  (regression) probe on activations and reports its cross-validated score
  (accuracy or R^2, ``cv``-fold).
- :func:`probe_model` caches a model's activations at one site for every layer
  and fits one probe per layer and position: a tidy DataFrame
  ``layer, pos, kind, metric, score, score_std``.
- A probe's direction is a torch tensor; :func:`steering_hook` turns any
  direction into a TransformerLens-style hook ``(name, fn)`` adding
  ``alpha * direction`` to the activation.
- The mod-10 experiment of Gould et al. (2023, "Successor Heads"): the MLP0
  outputs of number tokens (MLP0 applied to the raw embeddings, as in their
  effective OV circuit) carry linear features of the value mod 10
  (:func:`mod10_probe`); swapping the feature of digit ``a`` for that of digit
  ``b`` moves a successor head's output from ``n + 1`` to a number ending in
  ``b + 1`` (:func:`mod10_steering`). Gould et al. found the features with a
  sparse autoencoder; here the feature of digit ``c`` is the mean MLP0 output of
  the numbers ending in ``c`` minus the mean over all numbers (a choice recorded
  here; the probe shows the information is linearly readable).

Example:
    >>> x = torch.randn(200, 6)
    >>> y = (x[:, 0] > 0).long()
    >>> probe = fit_probe(x, y, kind="logistic", cv=3)
    >>> probe.cv_score > 0.9, tuple(probe.direction.shape)
    (True, (6,))
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp import HookedModel
from interp.engine.patches import hook_name
from interp.weights.canonical import ModelWeights
from interp.weights.forward import effective_embeddings

ProbeKind = Literal["logistic", "ridge"]
"""``logistic``: logistic regression on class labels (score: accuracy). ``ridge``: ridge regression on
real targets (score: R^2)."""

ProbeSite = Literal["resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out"]
"""Where activations are read: the residual stream before/between/after a block, or a sublayer's output."""

PROBE_SITES: tuple[str, ...] = get_args(ProbeSite)


@dataclass(frozen=True, kw_only=True)
class LinearProbe:
    """A fitted probe.

    Attributes:
        kind: ``logistic`` or ``ridge``.
        direction: ``[d_model]`` for a binary classifier or a single regression target, else
            ``[n_classes, d_model]`` (one direction per class).
        intercept: The intercept(s).
        classes: The class labels of a logistic probe (None for ridge).
        cv_score: Mean cross-validated accuracy (logistic) or R^2 (ridge).
        cv_std: Its standard deviation over folds.
        estimator: The scikit-learn estimator refitted on all the data.
    """

    kind: ProbeKind
    direction: Tensor
    intercept: Tensor
    classes: list[Any] | None
    cv_score: float
    cv_std: float
    estimator: Any = field(repr=False)

    def unit_direction(self, cls: Any = None) -> Float[Tensor, " d_model"]:
        """The (class's) direction scaled to unit norm, ready for :func:`steering_hook`."""
        d = self.direction
        if d.ndim == 2:
            if cls is None or self.classes is None or cls not in self.classes:
                raise ValueError(f"pick a class for a multi-class probe; expected one of {self.classes}")
            d = d[self.classes.index(cls)]
        return d / d.norm().clamp_min(1e-12)

    def predict(self, x: Float[Tensor, "batch d_model"]) -> np.ndarray:
        return self.estimator.predict(_numpy(x))


def _numpy(x: Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().double().numpy() if isinstance(x, Tensor) else np.asarray(x, dtype=np.float64)


def fit_probe(
    x: Float[Tensor, "batch d_model"],
    y: Tensor | Sequence[Any],
    *,
    kind: ProbeKind = "logistic",
    cv: int = 5,
    regularization: float = 1.0,
    standardize: bool = True,
    seed: int = 0,
) -> LinearProbe:
    """Fit a linear probe and score it by ``cv``-fold cross-validation.

    Args:
        x: Activations, one row per example.
        y: Class labels (logistic) or real targets (ridge), one per example.
        kind: ``"logistic"`` or ``"ridge"``.
        cv: Number of folds (stratified for logistic).
        regularization: Inverse strength ``C`` for logistic, strength ``alpha`` for ridge.
        standardize: Scale every feature to zero mean and unit variance before fitting (activations
            of small models can be tiny, which L2 regularisation would swamp). Directions and
            intercepts are mapped back to the raw activation space.
        seed: Seeds the fold split.
    """
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = _numpy(x)
    Y = np.asarray(y.detach().cpu().numpy() if isinstance(y, Tensor) else y)
    if X.ndim != 2 or Y.ndim != 1 or X.shape[0] != Y.shape[0]:
        raise ValueError(
            f"expected activations [batch, d_model] and one target per row; got {X.shape} and {Y.shape}"
        )
    if kind == "logistic":
        estimator = LogisticRegression(C=regularization, max_iter=2000)
        _, counts = np.unique(Y, return_counts=True)
        if len(counts) < 2:
            raise ValueError("a logistic probe needs at least two classes; all labels are equal")
        n_folds = min(cv, int(counts.min()))
        if n_folds < 2:
            raise ValueError(f"every class needs at least 2 examples for cross-validation; counts {counts}")
        folds = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
        scoring = "accuracy"
    elif kind == "ridge":
        estimator = Ridge(alpha=regularization)
        Y = Y.astype(np.float64)
        folds = KFold(min(cv, X.shape[0]), shuffle=True, random_state=seed)
        scoring = "r2"
    else:
        raise ValueError(f"unknown probe kind {kind!r}; expected 'logistic' or 'ridge'")
    linear = estimator
    if standardize:
        estimator = make_pipeline(StandardScaler(), linear)
    scores = cross_val_score(estimator, X, Y, cv=folds, scoring=scoring)
    estimator.fit(X, Y)
    coef, intercept = np.atleast_2d(linear.coef_), np.atleast_1d(linear.intercept_)
    if standardize:
        scaler = estimator[0]
        coef = coef / scaler.scale_
        intercept = intercept - coef @ scaler.mean_
    direction = torch.tensor(coef, dtype=torch.float32)
    return LinearProbe(
        kind=kind,
        direction=direction[0] if direction.shape[0] == 1 else direction,
        intercept=torch.as_tensor(intercept, dtype=torch.float32),
        classes=linear.classes_.tolist() if kind == "logistic" else None,
        cv_score=float(scores.mean()),
        cv_std=float(scores.std()),
        estimator=estimator,
    )


@dataclass(frozen=True)
class ProbeResult:
    """Probes per layer and position.

    Attributes:
        df: One row per (layer, pos): ``layer, pos, site, kind, metric, score, score_std``.
        probes: The fitted probes by ``(layer, pos)``.
    """

    df: pd.DataFrame
    probes: dict[tuple[int, int], LinearProbe]

    def best(self) -> LinearProbe:
        """The probe with the highest cross-validated score."""
        row = self.df.loc[self.df["score"].idxmax()]
        return self.probes[(int(row["layer"]), int(row["pos"]))]

    def plot(self):
        """A layer x position heatmap of cross-validated scores."""
        import plotly.graph_objects as go

        grid = self.df.pivot(index="layer", columns="pos", values="score")
        fig = go.Figure(
            go.Heatmap(
                z=grid.values,
                x=[f"P{p}" for p in grid.columns],
                y=[f"L{layer}" for layer in grid.index],
                colorscale="Viridis",
                colorbar={"title": self.df["metric"].iloc[0]},
            )
        )
        fig.update_yaxes(autorange="reversed")
        return fig.update_layout(
            title=f"Linear probes ({self.df['kind'].iloc[0]}, {self.df['site'].iloc[0]})"
        )

    def to_json(self) -> str:
        return json.dumps(json.loads(self.df.to_json(orient="records")))


def probe_model(
    model: HookedModel,
    tokens: Int[Tensor, "batch pos"],
    labels: Tensor | Sequence[Any],
    *,
    kind: ProbeKind = "logistic",
    site: ProbeSite = "resid_post",
    layers: Sequence[int] | None = None,
    positions: Sequence[int] | None = None,
    cv: int = 5,
    regularization: float = 1.0,
    standardize: bool = True,
) -> ProbeResult:
    """Fit one probe per layer and position on a model's activations at ``site``.

    Args:
        tokens: The prompts.
        labels: One label per prompt ``[batch]`` (shared by every position) or per prompt and
            position ``[batch, pos]``.
        kind: ``"logistic"`` or ``"ridge"``.
        site: Which activation (see :data:`ProbeSite`).
        layers: Layers to probe (default all).
        positions: Positions to probe (default all; negative values count from the end).
    """
    if site not in PROBE_SITES:
        raise ValueError(f"unknown probe site {site!r}; expected one of {list(PROBE_SITES)}")
    tokens = model.check_tokens(tokens)
    n_batch, n_pos = tokens.shape
    layers = list(range(model.n_layers)) if layers is None else [int(layer) for layer in layers]
    for layer in layers:
        model.check_head(layer, 0)
    positions = list(range(n_pos)) if positions is None else [int(p) % n_pos for p in positions]
    y = torch.as_tensor(np.asarray(labels)) if not isinstance(labels, Tensor) else labels
    if y.shape not in ((n_batch,), (n_batch, n_pos)):
        raise ValueError(f"labels must have shape ({n_batch},) or ({n_batch}, {n_pos}); got {tuple(y.shape)}")
    names = [hook_name(layer, site) for layer in layers]
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=names)
    rows, probes = [], {}
    for layer, name in zip(layers, names, strict=True):
        for pos in positions:
            target = y if y.ndim == 1 else y[:, pos]
            probe = fit_probe(
                cache[name][:, pos],
                target,
                kind=kind,
                cv=cv,
                regularization=regularization,
                standardize=standardize,
            )
            probes[(layer, pos)] = probe
            rows.append(
                {
                    "layer": layer,
                    "pos": pos,
                    "site": site,
                    "kind": kind,
                    "metric": "accuracy" if kind == "logistic" else "r2",
                    "score": probe.cv_score,
                    "score_std": probe.cv_std,
                }
            )
    return ProbeResult(pd.DataFrame(rows), probes)


def steering_hook(
    hook_name: str,
    direction: Float[Tensor, " d_model"],
    alpha: float,
    positions: Sequence[int] | None = None,
) -> tuple[str, Callable]:
    """A TransformerLens-style forward hook ``(name, fn)`` adding ``alpha * direction`` to the activation.

    Args:
        hook_name: Where to add it, e.g. ``"blocks.1.hook_resid_post"``.
        direction: The vector (e.g. :meth:`LinearProbe.unit_direction`); not renormalised.
        alpha: Its scale.
        positions: Positions to steer (default all).
    """
    if direction.ndim != 1:
        raise ValueError(f"a steering direction is one vector [d_model]; got shape {tuple(direction.shape)}")
    vector = alpha * direction.detach()

    def hook(activation: Tensor, hook: Any) -> Tensor:
        if activation.shape[-1] != vector.shape[0]:
            raise ValueError(
                f"steering vector of width {vector.shape[0]} cannot be added at {hook_name} "
                f"(width {activation.shape[-1]})"
            )
        add = vector.to(activation.device, activation.dtype)
        if positions is None:
            return activation + add
        out = activation.clone()
        out[:, list(positions)] += add
        return out

    return hook_name, hook


def _number_values(model: HookedModel, token_ids: Sequence[int], values: Sequence[int] | None) -> list[int]:
    if values is not None:
        if len(values) != len(token_ids):
            raise ValueError(f"{len(values)} values for {len(token_ids)} number tokens; expected one each")
        return [int(v) for v in values]
    parsed = []
    for token in token_ids:
        text = model.to_string(torch.tensor([int(token)])).strip()
        if not text.isdigit():
            raise ValueError(f"token {token} ({text!r}) is not a number; pass values= explicitly")
        parsed.append(int(text))
    return parsed


def number_mlp0_outputs(
    model: HookedModel, token_ids: Sequence[int], *, weights: ModelWeights | None = None
) -> Float[Tensor, "batch d_model"]:
    """MLP0 applied to the raw embeddings of ``token_ids`` (Gould et al.'s effective embedding), read
    from ``weights`` when given (e.g. edited ones) instead of the model's."""
    ids = torch.as_tensor(list(token_ids), dtype=torch.long)
    if bool((ids < 0).any()) or bool((ids >= model.d_vocab).any()):
        raise ValueError(f"token ids must lie in 0..{model.d_vocab - 1}; got {ids.tolist()}")
    w = weights if weights is not None else model.weights
    with torch.no_grad():
        return effective_embeddings(w, ids.to(w.W_E.device), "mlp0").float().cpu()


@dataclass(frozen=True)
class Mod10Probe:
    """The mod-10 probe on MLP0 outputs of number tokens.

    Attributes:
        probe: A 10-class (or fewer) logistic probe of ``value % 10``.
        features: ``[10, d_model]``: row ``c`` is the mean MLP0 output of the numbers ending in ``c``
            minus the mean over all numbers (zero for digits absent from the set).
        token_ids: The number tokens.
        values: Their values.
    """

    probe: LinearProbe
    features: Tensor
    token_ids: list[int]
    values: list[int]


def mod10_probe(
    model: HookedModel,
    number_token_ids: Sequence[int],
    *,
    values: Sequence[int] | None = None,
    cv: int = 5,
    regularization: float = 1.0,
    weights: ModelWeights | None = None,
) -> Mod10Probe:
    """Probe MLP0 outputs of number tokens for their value mod 10 (Gould et al.).

    Args:
        number_token_ids: Single-token numbers (e.g. " 1" ... " 200" in GPT-2).
        values: Their numeric values (default: parsed from the decoded tokens).
        weights: Read these weights instead of the model's (e.g. edited ones).
    """
    values = _number_values(model, number_token_ids, values)
    x = number_mlp0_outputs(model, number_token_ids, weights=weights)
    digits = torch.tensor([v % 10 for v in values])
    probe = fit_probe(x, digits, kind="logistic", cv=cv, regularization=regularization)
    centred = x - x.mean(0)
    features = torch.zeros(10, x.shape[-1])
    for c in digits.unique().tolist():
        features[c] = centred[digits == c].mean(0)
    return Mod10Probe(probe, features, [int(t) for t in number_token_ids], values)


def mod10_steering(
    model: HookedModel,
    head: tuple[int, int],
    mod10: Mod10Probe,
    to_digit: int,
    *,
    scale: float = 1.0,
    weights: ModelWeights | None = None,
) -> pd.DataFrame:
    """Steer a successor head by swapping the mod-10 feature of each number for that of ``to_digit``.

    For each number ``n`` ending in ``a``, its MLP0 output ``x`` becomes
    ``x - scale * f_a + scale * f_to_digit``; the head's effective OV circuit then scores every
    number token (``x W_V^h W_O^h W_U``), and the top one is read before and after. ``weights``
    replaces the model's (e.g. edited ones).

    Returns:
        One row per number: ``token, value, from_digit, to_digit, top_before, top_after,
        incremented_before`` (top before is ``n + 1``), ``steered`` (top after ends in
        ``to_digit + 1``). ``df["steered"].mean()`` is the steering success rate.
    """
    layer, h = model.check_head(*head)
    if not 0 <= to_digit <= 9:
        raise ValueError(f"to_digit must be a digit 0..9; got {to_digit}")
    w = weights if weights is not None else model.weights
    x = number_mlp0_outputs(model, mod10.token_ids, weights=w)
    digits = torch.tensor([v % 10 for v in mod10.values])
    steered = x - scale * mod10.features[digits] + scale * mod10.features[to_digit]
    ids = torch.tensor(mod10.token_ids)
    W_U = w.W_U[:, ids].float().cpu()
    W_OV = w.W_OV[layer, h].float().cpu()
    top_before = (x @ W_OV @ W_U).argmax(-1)
    top_after = (steered @ W_OV @ W_U).argmax(-1)
    values = torch.tensor(mod10.values)
    return pd.DataFrame(
        {
            "token": mod10.token_ids,
            "value": mod10.values,
            "from_digit": digits.tolist(),
            "to_digit": to_digit,
            "top_before": values[top_before].tolist(),
            "top_after": values[top_after].tolist(),
            "incremented_before": (values[top_before] == values + 1).tolist(),
            "steered": (values[top_after] % 10 == (to_digit + 1) % 10).tolist(),
        }
    )
