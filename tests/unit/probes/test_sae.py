"""Sparse autoencoder: architecture invariants, training quality on real residual streams, I/O, errors."""

import pytest
import torch

from interp.testing import tiny_model
from interp.zoo import zoo_names
from probes.sae import (
    SAE,
    SAEConfig,
    feature_activations,
    sae_stats,
    top_activating_examples,
    train_sae,
)

RESID_CONFIG = SAEConfig(d_sae=128, l1_coefficient=1e-3, n_epochs=300, batch_size=256, lr=3e-3)
"""Settings that reconstruct a small model's residual stream well within a second or two."""


pytestmark = pytest.mark.usefixtures("one_thread")


def residuals(model, n_prompts: int = 64, n_pos: int = 16, layer: int | None = None) -> torch.Tensor:
    layer = model.n_layers - 1 if layer is None else layer
    low = 4 if model.d_vocab > 8 else 0
    tokens = torch.randint(low, model.d_vocab, (n_prompts, n_pos))
    name = f"blocks.{layer}.hook_resid_post"
    _, cache = model.run_with_cache(tokens, names_filter=name)
    return cache[name]


def test_decoder_columns_stay_unit_norm_and_bias_is_tied():
    x = torch.randn(50, 6) + 3.0
    sae = train_sae(x, SAEConfig(d_sae=12, n_epochs=20), progress=False)
    assert torch.allclose(sae.W_dec.norm(dim=-1), torch.ones(12), atol=1e-5)
    # the same b_pre is subtracted before encoding and added after decoding
    f = sae.encode(x)
    manual = torch.relu((x - sae.b_pre) @ sae.W_enc + sae.b_enc) @ sae.W_dec + sae.b_pre
    assert torch.allclose(sae.decode(f), manual, atol=1e-5)


def test_topk_keeps_at_most_k_features():
    x = torch.randn(40, 8)
    sae = train_sae(x, SAEConfig(d_sae=32, activation="topk", k=3, n_epochs=10), progress=False)
    assert int((sae.encode(x) > 0).sum(-1).max()) <= 3
    assert sae.stats.l0 <= 3


@pytest.mark.parametrize("activation", ["relu", "topk"])
def test_residual_stream_explained_variance(activation):
    torch.manual_seed(0)
    model = tiny_model("gpt2")
    x = residuals(model)
    config = SAEConfig(**{**RESID_CONFIG.__dict__, "activation": activation})
    sae = train_sae(x, config, progress=False)
    assert sae.stats.explained_variance >= 0.9, sae.stats
    assert 0 < sae.stats.l0 < config.d_sae / 4
    assert sae.losses[-1] < sae.losses[0]


def sparse_config(d_model: int) -> SAEConfig:
    """Top-k with k = d_model / 4 and 2 x d_model features: sparse whatever the activations' scale."""
    return SAEConfig(
        d_sae=2 * d_model, activation="topk", k=d_model // 4, n_epochs=300, batch_size=256, lr=3e-3
    )


def test_real_model_residual_explained_variance(stories260k):
    x = residuals(stories260k, n_prompts=32, n_pos=32, layer=2)
    sae = train_sae(x, sparse_config(stories260k.d_model), progress=False)
    assert sae.stats.explained_variance >= 0.9, sae.stats
    assert sae.stats.l0 <= stories260k.d_model // 4


@pytest.mark.skipif(not zoo_names(), reason="no zoo checkpoints under data/zoo")
def test_zoo_model_residual_explained_variance():
    from interp import load_model

    model = load_model(f"zoo:{zoo_names()[0]}", device="cpu")
    x = residuals(model, n_prompts=32, n_pos=min(16, model.n_ctx))
    sae = train_sae(x, sparse_config(model.d_model), progress=False)
    assert sae.stats.explained_variance >= 0.9, sae.stats
    assert sae.stats.l0 <= model.d_model // 4


def test_save_load_roundtrip(tmp_path):
    x = torch.randn(30, 5)
    sae = train_sae(x, SAEConfig(d_sae=10, n_epochs=5, activation="topk", k=2), progress=False)
    loaded = SAE.load(sae.save(tmp_path / "sae"))
    assert loaded.config == sae.config and loaded.stats == sae.stats
    assert torch.equal(loaded.encode(x), sae.encode(x))
    with pytest.raises(ValueError, match="no saved SAE"):
        SAE.load(tmp_path / "missing")


def test_training_under_no_grad_matches_training_outside_it():
    """Analysis code often runs under ``torch.no_grad()``; the trainer turns gradients back on."""
    x = torch.randn(30, 5, generator=torch.Generator().manual_seed(0))
    config = SAEConfig(d_sae=10, n_epochs=20)
    with torch.no_grad():
        inside = train_sae(x, config, progress=False)
    outside = train_sae(x, config, progress=False)
    assert inside.losses[-1] < inside.losses[0]
    assert inside.losses == outside.losses and torch.equal(inside.encode(x), outside.encode(x))


def test_wrong_width_names_both_widths():
    sae = SAE(16, SAEConfig(d_sae=8))
    with pytest.raises(ValueError, match=r"width 16.*width 12"):
        sae.encode(torch.randn(3, 12))
    with pytest.raises(ValueError, match=r"width 16.*width 12"):
        sae_stats(sae, torch.randn(3, 12))


def test_bad_config_rejected():
    # (under the test-time type checker the Literal annotation rejects it first)
    with pytest.raises((ValueError, TypeError), match="gelu"):
        SAEConfig(activation="gelu")
    with pytest.raises(ValueError, match="k=9 exceeds d_sae=4"):
        SAEConfig(d_sae=4, activation="topk", k=9)


def test_feature_tables():
    x = torch.randn(20, 4)
    sae = train_sae(x, SAEConfig(d_sae=6, n_epochs=5), progress=False)
    f = sae.encode(x)
    df = feature_activations(sae, x)
    assert list(df.columns) == ["example", "feature", "activation"]
    assert len(df) == int((f > 0).sum())
    feature = int(f.sum(0).argmax())
    top = top_activating_examples(sae, x, feature, k=3, labels=[f"ex{i}" for i in range(20)])
    assert top["example"].tolist() == f[:, feature].topk(3).indices.tolist()
    assert top["label"].tolist() == [f"ex{i}" for i in top["example"]]
    with pytest.raises(ValueError, match="feature 6 is out of range"):
        top_activating_examples(sae, x, 6)
