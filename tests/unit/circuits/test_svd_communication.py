"""SVD head communication: reconstructs W_OV, per-component scores, finds a planted channel."""

import pytest
import torch

from circuits.composition_scores import composition_scores
from circuits.svd_communication import (
    communication_check,
    component_composition_scores,
    edit_ov_channel,
    head_svd,
    ov_channel_hooks,
)
from interp import load_model
from interp.testing import tiny_hf_model, tiny_model, word_tokenizer
from interp.weights import forward

FP32_NOISE_TOL = 1e-5
"""Two float32 routes to the same number."""

ARCHS = ["gpt2", "neox", "llama"]


@pytest.fixture(scope="module", params=ARCHS)
def model(request):
    return tiny_model(request.param)


@pytest.mark.parametrize("fold_norm", [False, True])
def test_head_svd_reconstructs_the_circuits(model, fold_norm):
    w = model.weights
    for circuit, dense in (("ov", w.W_OV), ("qk", w.W_QK)):
        svd = head_svd(model, (1, 3), circuit, fold_norm=fold_norm)
        assert svd.S.shape == (w.d_head,) and (svd.S[:-1] >= svd.S[1:]).all()
        assert torch.allclose(svd.U.T @ svd.U, torch.eye(w.d_head), atol=FP32_NOISE_TOL)
        assert torch.allclose(svd.Vh @ svd.Vh.T, torch.eye(w.d_head), atol=FP32_NOISE_TOL)
        parts = sum(svd.component(i) for i in range(w.d_head))
        assert torch.allclose(parts, svd.matrix(), atol=FP32_NOISE_TOL)
        if not fold_norm:
            assert torch.allclose(svd.matrix(), dense[1, 3], atol=FP32_NOISE_TOL)
            assert torch.allclose(svd.S, torch.linalg.svdvals(dense[1, 3])[: w.d_head], atol=FP32_NOISE_TOL)
    assert svd.df["share"].sum() == pytest.approx(1.0) and svd.plot().data


def test_component_scores_follow_merullos_formula_and_add_up_to_the_pair_score(model):
    w = model.weights
    for mode, receiver in (("Q", w.W_QK[1, 2]), ("K", w.W_QK[1, 2].T), ("V", w.W_OV[1, 2])):
        df = component_composition_scores(model, (0, 1), (1, 2), mode).df
        svd = head_svd(model, (0, 1))
        for i in range(w.d_head):
            C = svd.component(i)
            expected = (C @ receiver).norm() / (receiver.norm() * C.norm())
            assert df["score"].iloc[i] == pytest.approx(float(expected), abs=FP32_NOISE_TOL)
        pair = composition_scores(model, (mode,)).grid(mode)[0, 1, 1, 2]
        assert float((df["weighted"] ** 2).sum() ** 0.5) == pytest.approx(float(pair), abs=FP32_NOISE_TOL)
        assert sorted(df["rank"]) == list(range(1, w.d_head + 1))
        assert df.loc[df["rank"] == 1, "score"].item() == df["score"].max()


@pytest.mark.parametrize("fold_norm", [False, True])
def test_channel_edit_in_weights_equals_hooks_on_activations(model, fold_norm):
    tokens = torch.randint(4, 64, (2, 8))
    edited = edit_ov_channel(model, (0, 1), [0, 3], scale=0.3, fold_norm=fold_norm)
    hooks = ov_channel_hooks(model, "L0H1", [0, 3], scale=0.3, fold_norm=fold_norm)
    with torch.no_grad():
        by_weights = forward(edited, tokens)
        by_hooks = model.run_with_hooks(tokens, fwd_hooks=hooks)
        clean = model.run(tokens)
    assert torch.allclose(by_weights, by_hooks, atol=FP32_NOISE_TOL)
    assert (by_hooks - clean).abs().max() > 1e-4
    assert model.weights.W_O.data_ptr() != edited.W_O.data_ptr()


def test_removing_every_component_zeroes_the_head_and_scale_one_changes_nothing(model):
    w = model.weights
    everything = edit_ov_channel(model, (1, 0), list(range(w.d_head)))
    assert everything.W_O[1, 0].abs().max() < FP32_NOISE_TOL
    assert torch.allclose(edit_ov_channel(model, (1, 0), [2], scale=1).W_O, w.W_O, atol=FP32_NOISE_TOL)


def test_bad_inputs_are_rejected_with_clear_errors():
    model = tiny_model("gpt2")
    with pytest.raises(ValueError, match="unknown head \\(2, 0\\): layer 2 is out of range"):
        head_svd(model, (2, 0))
    with pytest.raises(ValueError, match="head 4 is out of range"):
        component_composition_scores(model, "L0H4")
    with pytest.raises(ValueError, match="component 8 is out of range; expected integers 0 <= i < 8"):
        edit_ov_channel(model, (0, 0), [8])
    with pytest.raises(TypeError, match="scale must be a real number; got 'half'"):
        ov_channel_hooks(model, (0, 0), [1], scale="half")
    with pytest.raises(ValueError, match="component 9 is out of range"):
        head_svd(model, (0, 0)).component(9)


# ---------------------------------------------------------------------------------- planted channel
def _planted_model(folder):
    """Tiny GPT-2 where L0H0 copies direction ``a`` into ``b`` and L1H0's keys read ``b``."""
    hf = tiny_hf_model("gpt2", seed=1)
    d_model, d_head = 32, 8
    g = torch.Generator().manual_seed(0)
    basis = torch.randn(d_model, d_model, generator=g)
    basis = basis - basis.mean(0, keepdim=True)  # orthogonal to the all-ones direction LayerNorm removes
    basis = torch.linalg.qr(basis)[0].T
    a, b = basis[0], basis[1]
    q, k, v = slice(0, d_head), slice(d_model, d_model + d_head), slice(2 * d_model, 2 * d_model + d_head)
    with torch.no_grad():
        attn0, attn1 = hf.transformer.h[0].attn, hf.transformer.h[1].attn
        attn0.c_attn.weight[:, v] = 3 * torch.outer(a, torch.eye(d_head)[0]) + 0.02 * torch.randn(
            d_model, d_head
        )
        attn0.c_proj.weight[:d_head] = 3 * torch.outer(torch.eye(d_head)[0], b) + 0.02 * torch.randn(
            d_head, d_model
        )
        attn1.c_attn.weight[:, k] = 3 * torch.outer(b, torch.eye(d_head)[0]) + 0.02 * torch.randn(
            d_model, d_head
        )
        attn1.c_attn.weight[:, q] = 0.02 * torch.randn(d_model, d_head)
        attn1.c_attn.bias[q] = 3 * torch.eye(d_head)[0]
    hf.save_pretrained(folder)
    word_tokenizer(folder=folder)
    return load_model(folder, device="cpu"), b


def test_a_planted_channel_ranks_first_and_removing_it_moves_the_receiver_most(tmp_path):
    model, b = _planted_model(tmp_path)
    top = head_svd(model, (0, 0))
    assert abs(float(top.Vh[0] @ b)) > 0.99  # the planted channel is the top component
    scores = component_composition_scores(model, (0, 0), (1, 0), "K").df
    assert scores.loc[scores["rank"] == 1, "component"].item() == 0
    tokens = torch.randint(4, 64, (4, 12))
    check = communication_check(model, tokens, senders=[(0, 0)], receivers=[(1, 0)], mode="K")
    measured = check.df.set_index("component")["measured"]
    random_component = int(torch.randint(1, model.d_head, (1,)))
    assert measured[0] > 5 * measured[random_component]
    assert measured[0] == measured.max()
    assert check.correlation()["components"]["spearman"] > 0
    assert check.plot().data and '"mode": "K"' in check.to_json()


# ---------------------------------------------------------------------------------- organism
ORGANISM = "organism"


def _organism():
    from interp.zoo import zoo_names
    from interp.zoo.registry import zoo_card

    if ORGANISM not in zoo_names():
        pytest.skip(f"the zoo has no {ORGANISM!r} model yet (interp.zoo.zoo_names() = {zoo_names()})")
    try:
        from circuits.path_patching import path_patching
    except ImportError as e:
        pytest.skip(f"circuits.path_patching is not importable: {e}")
    heads = zoo_card(ORGANISM).get("heads", {})
    prev, induction = heads.get("previous_token"), heads.get("induction")
    if not prev or not induction:
        pytest.skip(f"the {ORGANISM!r} card lists no previous_token and induction heads: {heads}")
    model = load_model(f"zoo:{ORGANISM}", device="cpu")
    from circuits.logit_attribution import parse_head

    def head(entry):  # the card may list [layer, head], "L1H2" or {"layer": 1, "head": 2}
        entry = (entry["layer"], entry["head"]) if isinstance(entry, dict) else entry
        return parse_head(entry, model.n_layers, model.n_heads)

    prev, induction = [head(h) for h in prev], [head(h) for h in induction]
    return model, prev, induction, path_patching


def _induction_data(model, span=10, n=16):
    from circuits.heads.induction import repeated_random_tokens
    from interp.engine import Metric

    clean = repeated_random_tokens(model, n_prompts=n, span=span, seed=1)
    corrupted = repeated_random_tokens(model, n_prompts=n, span=2 * span, repeats=1, seed=2)
    positions = torch.arange(span + 1, 2 * span)
    targets = clean[:, positions + 1]

    def induction_logit(logits):
        return logits.gather(-1, targets[:, :, None].to(logits.device))[..., 0].mean(-1)

    return clean, corrupted, Metric(fn=induction_logit, positions=positions, name="induction_logit")


def test_organism_previous_token_to_induction_k_composition_matches_path_patching():
    model, prev, induction, path_patching = _organism()
    clean, corrupted, metric = _induction_data(model)
    first = min(layer for layer, _ in induction)
    senders = [(layer, h) for layer in range(first) for h in range(model.n_heads)]
    predicted = composition_scores(model, ("K",), fold_norm=True).grid("K")
    result = path_patching(
        model,
        clean,
        corrupted,
        metric,
        senders=senders,
        receivers=induction,
        components=("k",),
        per_receiver=True,
    )
    effect = (result.scores - result.baseline).abs()
    # The card may list backup previous-token heads: redundant senders share the effect of any one
    # path, so compare senders by their composition with, and effect on, all induction heads together.
    by_weights = max(senders, key=lambda s: sum(float(predicted[s[0], s[1], rl, rh]) for rl, rh in induction))
    by_patching = max(senders, key=lambda s: sum(float(effect[s[0], s[1], rl, rh]) for rl, rh in induction))
    assert by_weights in prev, f"top K-composition sender {by_weights} is not a prev-token head {prev}"
    assert by_weights == by_patching


def test_organism_removing_the_top_component_moves_the_induction_head_more_than_a_random_one():
    model, prev, induction, _ = _organism()
    clean, _, _ = _induction_data(model, n=8)
    sender = prev[0]
    receiver = next((r for r in induction if r[0] > sender[0]), None)
    if receiver is None:
        pytest.skip(f"no induction head after previous-token head {sender}")
    check = communication_check(
        model, clean, senders=[sender], receivers=[receiver], mode="K", fold_norm=True
    )
    df = check.df
    top = int(df.loc[df["rank"] == 1, "component"].item())
    others = df[df["component"] != top]["measured"]
    # Against a typical other component (the median), not one draw: single components are noisy.
    assert df.loc[df["component"] == top, "measured"].item() > others.median()
