"""Linear probes: recovery of planted features, per-layer probing, steering hooks, mod-10 features."""

from dataclasses import replace

import pytest
import torch

from interp.testing import tiny_model
from probes.linear import fit_probe, mod10_probe, mod10_steering, probe_model, steering_hook

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model():
    return tiny_model("gpt2")


def planted(n: int = 400, d: int = 32, strength: float = 3.0):
    """Gaussian activations plus ``strength * (2 label - 1) * w`` along a hidden unit direction ``w``.

    The best possible accuracy is Phi(strength) = 0.9987 for strength 3.
    """
    w = torch.randn(d)
    w = w / w.norm()
    y = torch.randint(0, 2, (n,))
    x = torch.randn(n, d) + strength * (2 * y[:, None] - 1) * w
    return x, y, w


def test_logistic_probe_recovers_planted_feature():
    x, y, w = planted()
    probe = fit_probe(x, y, kind="logistic")
    assert probe.cv_score >= 0.95
    assert torch.cosine_similarity(probe.direction, w, dim=0) > 0.9


def test_ridge_probe_recovers_planted_target():
    x = torch.randn(300, 16)
    w = torch.randn(16)
    target = x @ w + 0.1 * torch.randn(300)
    probe = fit_probe(x, target, kind="ridge", regularization=1e-3)
    assert probe.cv_score >= 0.95
    assert torch.allclose(probe.direction, w, atol=0.05)


def test_probe_rejects_bad_input():
    with pytest.raises(ValueError, match="two classes"):
        fit_probe(torch.randn(10, 3), torch.zeros(10))
    with pytest.raises(ValueError, match="one target per row"):
        fit_probe(torch.randn(10, 3), torch.zeros(9))


def test_probe_model_per_layer_and_position(model):
    tokens = torch.randint(4, 64, (60, 5))
    labels = torch.randint(0, 2, (60,))
    tokens[:, 2] = torch.where(labels == 1, 10, 20)  # the label is the token at position 2
    result = probe_model(model, tokens, labels, positions=[0, 2], cv=3)
    df = result.df
    assert sorted(zip(df["layer"], df["pos"], strict=True)) == [(0, 0), (0, 2), (1, 0), (1, 2)]
    assert list(df.columns) == ["layer", "pos", "site", "kind", "metric", "score", "score_std"]
    assert df[df["pos"] == 2]["score"].min() == 1.0
    assert df[df["pos"] == 0]["score"].max() < 0.8  # position 0 cannot see position 2
    assert result.plot() is not None and result.to_json().startswith("[")
    with pytest.raises(ValueError, match="labels must have shape"):
        probe_model(model, tokens, labels[:10])


def test_steering_hook_adds_exactly_alpha_direction(model):
    tokens = torch.randint(4, 64, (3, 6))
    name = "blocks.0.hook_resid_post"
    direction = torch.randn(model.d_model)
    seen = {}

    def record(act, hook):
        seen["act"] = act.clone()

    _, cache = model.run_with_cache(tokens, names_filter=name)
    model.run_with_hooks(tokens, fwd_hooks=[steering_hook(name, direction, 2.5), (name, record)])
    assert torch.allclose(seen["act"] - cache[name], (2.5 * direction).expand_as(seen["act"]), atol=1e-6)
    # only the chosen positions move
    model.run_with_hooks(
        tokens, fwd_hooks=[steering_hook(name, direction, 1.0, positions=[-1]), (name, record)]
    )
    diff = seen["act"] - cache[name]
    assert torch.allclose(diff[:, -1], direction.expand(3, -1), atol=1e-6)
    assert diff[:, :-1].abs().max() == 0
    with pytest.raises(ValueError, match="width 7"):
        model.run_with_hooks(tokens, fwd_hooks=[steering_hook(name, torch.randn(7), 1.0)])


def test_mod10_probe_and_steering_run_and_are_consistent(model):
    ids = list(range(10, 60))
    values = list(range(1, 51))  # treat t10..t59 as the numbers 1..50
    mod10 = mod10_probe(model, ids, values=values, cv=3)
    assert tuple(mod10.features.shape) == (10, model.d_model)
    assert 0.0 <= mod10.probe.cv_score <= 1.0
    # features are centred class means: they sum (weighted by class size) to zero
    counts = torch.bincount(torch.tensor(values) % 10, minlength=10).float()
    assert torch.allclose((counts[:, None] * mod10.features).sum(0), torch.zeros(model.d_model), atol=1e-4)
    df = mod10_steering(model, (1, 0), mod10, to_digit=3)
    assert len(df) == 50 and set(df.columns) >= {"top_before", "top_after", "steered"}
    # a zero-scale swap changes nothing
    same = mod10_steering(model, (1, 0), mod10, to_digit=3, scale=0.0)
    assert same["top_after"].tolist() == same["top_before"].tolist()
    with pytest.raises(ValueError, match="not a number"):
        mod10_probe(model, ids)
    with pytest.raises(ValueError, match="head 9 is out of range"):
        mod10_steering(model, (1, 9), mod10, to_digit=3)


NUMBERS = list(range(10, 60))
"""Tokens t10..t59 of the tiny model, read as the numbers 1..50."""
VALUES = list(range(1, 51))


def circle(angles: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Points ``cos a * basis[:, 0] + sin a * basis[:, 1]``, one row per angle."""
    return torch.stack([angles.cos(), angles.sin()], -1) @ basis.T


def planted_successor_weights(model, head=(1, 0), noise: float = 0.02):
    """Weights whose MLP0 outputs of the numbers carry the units digit on a circle (and the tens digit on
    another), and whose head ``head`` rotates the units circle by one step: its OV circuit maps ``n`` to
    the number ending in the next digit, with the same tens digit.

    MLP0 is the identity on the normalised embedding (``gelu(z) - gelu(-z) = z``), and every planted
    direction is orthogonal to the all-ones vector, so LayerNorm only rescales.
    """
    w = model.weights
    d = model.d_model
    g = torch.Generator().manual_seed(0)
    q = torch.randn(d, d, generator=g)
    q = q - q.mean(0, keepdim=True)  # columns orthogonal to the ones vector
    basis, _ = torch.linalg.qr(q)
    units_in, tens_in, units_out, tens_out = basis[:, 0:2], basis[:, 2:4], basis[:, 4:6], basis[:, 6:8]
    values = torch.tensor(VALUES)
    units, tens = 2 * torch.pi * (values % 10) / 10, 2 * torch.pi * (values // 10) / 6
    W_E = w.W_E.clone()
    jitter = noise * torch.randn(len(VALUES), d, generator=g)
    W_E[NUMBERS] = circle(units, units_in) + circle(tens, tens_in) + jitter - jitter.mean(1, keepdim=True)
    W_U = w.W_U.clone()
    W_U[:, NUMBERS] = (circle(units, units_out) + circle(tens, tens_out)).T
    d_mlp = w.W_in.shape[-1]
    eye = torch.eye(d)
    W_in, W_out, b_in, b_out = w.W_in.clone(), w.W_out.clone(), w.b_in.clone(), w.b_out.clone()
    W_in[0] = torch.cat([eye, -eye, torch.zeros(d, d_mlp - 2 * d)], 1)
    W_out[0] = torch.cat([eye, -eye, torch.zeros(d_mlp - 2 * d, d)], 0)
    b_in[0], b_out[0] = 0, 0
    ln2_w, ln2_b = w.ln2_w.clone(), w.ln2_b.clone()
    ln2_w[0], ln2_b[0] = 1, 0
    step = torch.tensor(2 * torch.pi / 10)
    rotate = torch.stack([torch.stack([step.cos(), step.sin()]), torch.stack([-step.sin(), step.cos()])])
    layer, h = head
    W_V, W_O = w.W_V.clone(), w.W_O.clone()
    W_V[layer, h], W_O[layer, h] = 0, 0
    W_V[layer, h, :, :4] = torch.cat([units_in @ rotate, tens_in], 1)  # (cos a, sin a) -> a + one step
    W_O[layer, h, :4] = torch.cat([units_out, tens_out], 1).T
    return replace(
        w,
        W_E=W_E,
        W_U=W_U,
        W_in=W_in,
        W_out=W_out,
        b_in=b_in,
        b_out=b_out,
        ln2_w=ln2_w,
        ln2_b=ln2_b,
        W_V=W_V,
        W_O=W_O,
    )


def test_mod10_features_recovered_and_steering_moves_a_planted_successor_head(model):
    """Gould et al.'s experiment on weights with a known answer: the probe reads the units digit from
    MLP0, the head increments before steering, and swapping digit features retargets its output."""
    w = planted_successor_weights(model)
    # Neighbouring digits lie 36 degrees apart on the circle: the probe needs weak regularisation (C=10;
    # C=1 reads 0.82).
    mod10 = mod10_probe(model, NUMBERS, values=VALUES, cv=5, regularization=10.0, weights=w)
    assert mod10.probe.cv_score >= 0.95
    df = mod10_steering(model, (1, 0), mod10, to_digit=3, weights=w)
    assert df["incremented_before"].mean() >= 0.8  # only a carry (19 -> 10) or 50 -> 51 misses
    for to_digit in (3, 7):
        steered = mod10_steering(model, (1, 0), mod10, to_digit=to_digit, weights=w)
        assert steered["steered"].mean() >= 0.95, steered
        assert (steered["top_after"] % 10 == (to_digit + 1) % 10).mean() >= 0.95
    # A head that does not read the units circle is not steered; without a swap nothing moves.
    other = mod10_steering(model, (1, 1), mod10, to_digit=3, weights=w)
    assert other["steered"].mean() < 0.5
    same = mod10_steering(model, (1, 0), mod10, to_digit=3, scale=0.0, weights=w)
    assert same["top_after"].tolist() == same["top_before"].tolist()
