"""Linear probes: recovery of planted features, per-layer probing, steering hooks, mod-10 features."""

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
