"""Sparse autoencoders on cached activations (residual stream, MLP outputs, per-head outputs).

A small PyTorch SAE in the style of Bricken et al. (2023, "Towards
Monosemanticity") as used by O'Neill & Bui (2024):

- a **tied pre-encoder bias** ``b_pre``, subtracted before encoding and added
  back after decoding;
- **unit-norm decoder columns**: each feature's dictionary vector
  ``W_dec[feature]`` is renormalised to length 1 after every optimiser step;
- a **ReLU** encoder trained with loss ``MSE + l1_coefficient * mean_batch(L1(features))``
  (the loss of O'Neill & Bui's code: elementwise mean squared error plus the mean
  over examples of each example's L1 norm), or, as an option, a **top-k**
  activation (keep the ``k`` largest pre-activations, ReLU them; no L1 penalty).

Every trained SAE carries :class:`SAEStats` (explained variance, L0, MSE, dead
features) measured on its training activations; :func:`sae_stats` measures
them on any other activations.

Example:
    >>> x = torch.randn(64, 8)
    >>> sae = train_sae(x, SAEConfig(d_sae=16, n_epochs=5), progress=False)
    >>> sae.encode(x).shape
    torch.Size([64, 16])
    >>> sorted(sae.stats.to_dict())
    ['dead_fraction', 'explained_variance', 'l0', 'mse', 'n_examples']
"""

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import einops
import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor, nn
from tqdm.auto import tqdm

SAEActivation = Literal["relu", "topk"]
"""``relu``: ReLU features with an L1 penalty. ``topk``: only the ``k`` largest pre-activations
survive (ReLU'd)."""

SAEBiasInit = Literal["mean", "zeros"]
"""``mean``: the pre-encoder bias starts at the mean training activation. ``zeros``: at zero
(O'Neill & Bui's setting)."""


@dataclass(frozen=True, kw_only=True)
class SAEConfig:
    """How to build and train a sparse autoencoder.

    Attributes:
        d_sae: Number of learned features (dictionary size).
        activation: ``"relu"`` (with L1 penalty) or ``"topk"``.
        k: Active features per example for ``"topk"``.
        l1_coefficient: Weight of the L1 penalty (ignored for ``"topk"``).
        lr: Adam learning rate.
        n_epochs: Passes over the training activations.
        batch_size: Examples per step; None trains full-batch (one step per epoch).
        bias_init: How the tied pre-encoder bias starts (see :data:`SAEBiasInit`).
        seed: Seeds initialisation and shuffling.
    """

    d_sae: int = 200
    activation: SAEActivation = "relu"
    k: int = 8
    l1_coefficient: float = 0.02
    lr: float = 1e-3
    n_epochs: int = 500
    batch_size: int | None = None
    bias_init: SAEBiasInit = "mean"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.activation not in ("relu", "topk"):
            raise ValueError(f"unknown SAE activation {self.activation!r}; expected 'relu' or 'topk'")
        if self.bias_init not in ("mean", "zeros"):
            raise ValueError(f"unknown bias_init {self.bias_init!r}; expected 'mean' or 'zeros'")
        for name in ("d_sae", "k", "n_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1; got {getattr(self, name)}")
        if self.activation == "topk" and self.k > self.d_sae:
            raise ValueError(f"k={self.k} exceeds d_sae={self.d_sae}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1 or None; got {self.batch_size}")


@dataclass(frozen=True, kw_only=True)
class SAEStats:
    """How well an SAE reconstructs a set of activations.

    Attributes:
        explained_variance: ``1 - sum |x - x_hat|^2 / sum |x - mean(x)|^2``.
        l0: Mean number of non-zero features per example.
        mse: Mean squared reconstruction error per element.
        dead_fraction: Share of features never active on these activations.
        n_examples: How many activation vectors were measured.
    """

    explained_variance: float
    l0: float
    mse: float
    dead_fraction: float
    n_examples: int

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


class SAE(nn.Module):
    """A sparse autoencoder ``x -> f = act((x - b_pre) W_enc + b_enc) -> f W_dec + b_pre``.

    Attributes:
        d_in: Width of the activations it encodes.
        config: The :class:`SAEConfig` it was built with.
        stats: :class:`SAEStats` on the training activations (None until trained).
        losses: Training loss per epoch.
    """

    def __init__(self, d_in: int, config: SAEConfig | None = None) -> None:
        super().__init__()
        self.d_in = int(d_in)
        self.config = config or SAEConfig()
        d_sae = self.config.d_sae
        g = torch.Generator().manual_seed(self.config.seed)
        self.b_pre = nn.Parameter(torch.zeros(self.d_in))
        self.W_enc = nn.Parameter(torch.randn(self.d_in, d_sae, generator=g) / self.d_in**0.5)
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.W_dec = nn.Parameter(torch.randn(d_sae, self.d_in, generator=g))
        self.normalize_decoder()
        self.stats: SAEStats | None = None
        self.losses: list[float] = []

    @property
    def d_sae(self) -> int:
        return self.config.d_sae

    def check_width(self, x: Tensor) -> None:
        """Raise unless the last axis of ``x`` is the SAE's input width."""
        if x.ndim == 0 or x.shape[-1] != self.d_in:
            width = x.shape[-1] if x.ndim else "a scalar"
            raise ValueError(
                f"this SAE encodes activations of width {self.d_in}; got activations of width {width} "
                f"(shape {tuple(x.shape)})"
            )

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Rescale every feature's decoder vector ``W_dec[feature]`` to unit norm."""
        self.W_dec.div_(self.W_dec.norm(dim=-1, keepdim=True).clamp_min(1e-8))

    def pre_activations(self, x: Float[Tensor, "*batch d_in"]) -> Float[Tensor, "*batch d_sae"]:
        """``(x - b_pre) W_enc + b_enc``, before the nonlinearity."""
        self.check_width(x)
        centred = x.to(self.W_enc.dtype) - self.b_pre
        return einops.einsum(centred, self.W_enc, "... d_in, d_in d_sae -> ... d_sae") + self.b_enc

    def encode(self, x: Float[Tensor, "*batch d_in"]) -> Float[Tensor, "*batch d_sae"]:
        """Feature activations of ``x`` (any leading axes)."""
        pre = self.pre_activations(x)
        if self.config.activation == "relu":
            return torch.relu(pre)
        top = pre.topk(self.config.k, dim=-1)
        return torch.zeros_like(pre).scatter(-1, top.indices, torch.relu(top.values))

    def decode(self, f: Float[Tensor, "*batch d_sae"]) -> Float[Tensor, "*batch d_in"]:
        """Reconstruction ``f W_dec + b_pre``."""
        return einops.einsum(f, self.W_dec, "... d_sae, d_sae d_in -> ... d_in") + self.b_pre

    def forward(self, x: Float[Tensor, "*batch d_in"]) -> tuple[Tensor, Tensor]:
        """``(features, reconstruction)``."""
        f = self.encode(x)
        return f, self.decode(f)

    def loss(self, x: Float[Tensor, "batch d_in"]) -> Tensor:
        """``MSE + l1_coefficient * mean over examples of the L1 norm of the features`` (no L1 for top-k)."""
        f, x_hat = self(x)
        mse = (x_hat - x).pow(2).mean()
        if self.config.activation == "topk":
            return mse
        return mse + self.config.l1_coefficient * f.abs().sum(-1).mean()

    def save(self, folder: str | Path) -> Path:
        """Write ``sae.pt`` (state dict) and ``config.json`` (config, width, stats, losses) to ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(self.state_dict(), folder / "sae.pt")
        meta = {
            "d_in": self.d_in,
            "config": asdict(self.config),
            "stats": None if self.stats is None else self.stats.to_dict(),
            "losses": self.losses,
        }
        (folder / "config.json").write_text(json.dumps(meta, indent=2))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "SAE":
        """Read an SAE written by :meth:`save`."""
        folder = Path(folder)
        if not (folder / "config.json").is_file() or not (folder / "sae.pt").is_file():
            raise ValueError(f"no saved SAE in {folder}; expected config.json and sae.pt there")
        meta = json.loads((folder / "config.json").read_text())
        known = {f.name for f in fields(SAEConfig)}
        sae = cls(meta["d_in"], SAEConfig(**{k: v for k, v in meta["config"].items() if k in known}))
        sae.load_state_dict(torch.load(folder / "sae.pt", map_location="cpu", weights_only=True))
        sae.stats = None if meta.get("stats") is None else SAEStats(**meta["stats"])
        sae.losses = list(meta.get("losses", []))
        return sae


def _flatten(activations: Tensor) -> Tensor:
    if not isinstance(activations, Tensor) or activations.ndim < 1:
        raise ValueError(f"activations must be a tensor [..., d_in]; got {type(activations).__name__}")
    if activations.ndim == 1:
        activations = activations[None]
    return activations.detach().reshape(-1, activations.shape[-1]).float()


@torch.no_grad()
def sae_stats(sae: SAE, activations: Float[Tensor, "*batch d_in"]) -> SAEStats:
    """Explained variance, L0, MSE and dead-feature share of ``sae`` on ``activations``."""
    x = _flatten(activations)
    sae.check_width(x)
    f, x_hat = sae(x)
    residual = (x - x_hat).pow(2).sum()
    total = (x - x.mean(0)).pow(2).sum().clamp_min(1e-12)
    return SAEStats(
        explained_variance=float(1 - residual / total),
        l0=float((f > 0).float().sum(-1).mean()),
        mse=float((x - x_hat).pow(2).mean()),
        dead_fraction=float(((f > 0).sum(0) == 0).float().mean()),
        n_examples=x.shape[0],
    )


def train_sae(
    activations: Float[Tensor, "*batch d_in"], config: SAEConfig | None = None, *, progress: bool = True
) -> SAE:
    """Train an SAE on ``activations`` (every leading axis is flattened into examples).

    Args:
        activations: Cached activations ``[..., d_in]``.
        config: Size, sparsity and optimiser settings (default :class:`SAEConfig`).
        progress: Show a tqdm bar over epochs.

    Returns:
        The trained :class:`SAE`, with ``stats`` measured on ``activations`` and ``losses`` per epoch.
    """
    config = config or SAEConfig()
    x = _flatten(activations)
    if x.shape[0] == 0:
        raise ValueError("no activations to train on; expected at least one example")
    sae = SAE(x.shape[-1], config)
    if config.bias_init == "mean":
        with torch.no_grad():
            sae.b_pre.copy_(x.mean(0))
    optimizer = torch.optim.Adam(sae.parameters(), lr=config.lr)
    g = torch.Generator().manual_seed(config.seed)
    batch_size = config.batch_size or x.shape[0]
    bar = tqdm(range(config.n_epochs), desc="train SAE", disable=not progress, leave=False)
    with torch.enable_grad():  # also when called under torch.no_grad(), as analysis code often is
        for _ in bar:
            order = torch.randperm(x.shape[0], generator=g) if batch_size < x.shape[0] else None
            total = 0.0
            for start in range(0, x.shape[0], batch_size):
                batch = x if order is None else x[order[start : start + batch_size]]
                optimizer.zero_grad()
                loss = sae.loss(batch)
                loss.backward()
                optimizer.step()
                sae.normalize_decoder()
                total += loss.item() * batch.shape[0]
            sae.losses.append(total / x.shape[0])
            bar.set_postfix(loss=f"{sae.losses[-1]:.4g}")
    sae.eval()
    sae.stats = sae_stats(sae, x)
    return sae


@torch.no_grad()
def feature_activations(
    sae: SAE, activations: Float[Tensor, "batch d_in"], *, threshold: float = 0.0
) -> pd.DataFrame:
    """Tidy table of the features active on each example: ``example, feature, activation``.

    Args:
        activations: One activation vector per example (leading axes are flattened, row-major).
        threshold: Keep only activations above this value.
    """
    f = sae.encode(_flatten(activations))
    example, feature = torch.nonzero(f > threshold, as_tuple=True)
    return pd.DataFrame(
        {"example": example.tolist(), "feature": feature.tolist(), "activation": f[example, feature].tolist()}
    )


@torch.no_grad()
def top_activating_examples(
    sae: SAE,
    activations: Float[Tensor, "batch d_in"],
    feature: int,
    k: int = 10,
    labels: Any = None,
) -> pd.DataFrame:
    """The ``k`` examples on which ``feature`` fires most: ``rank, example, activation`` (+ ``label``).

    Args:
        activations: One activation vector per example (leading axes flattened, row-major).
        feature: The feature index, ``0 <= feature < d_sae``.
        k: How many examples.
        labels: Optional per-example labels (e.g. token strings) added as a ``label`` column.
    """
    if not 0 <= feature < sae.d_sae:
        raise ValueError(f"feature {feature} is out of range; expected 0 <= feature < {sae.d_sae}")
    f = sae.encode(_flatten(activations))[:, feature]
    if labels is not None and len(labels) != f.shape[0]:
        raise ValueError(f"{len(labels)} labels for {f.shape[0]} examples; expected one label per example")
    top = f.topk(min(k, f.shape[0]))
    df = pd.DataFrame(
        {
            "rank": range(top.indices.shape[0]),
            "example": top.indices.tolist(),
            "feature": feature,
            "activation": top.values.tolist(),
        }
    )
    if labels is not None:
        df["label"] = [labels[i] for i in top.indices.tolist()]
    return df
