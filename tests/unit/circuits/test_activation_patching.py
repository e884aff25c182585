"""Activation patching and ablation sweeps against TransformerLens 4.3 ``patching`` and hook loops."""

import pytest
import torch
import transformer_lens.patching as tlp

from circuits.activation_patching import ablation, activation_patching, logit_diff
from circuits.results import PatchingResult
from interp.engine import HookEngine, Metric, accuracy, answer_prob, kl_to_clean
from interp.testing import tiny_model

FP32_TOL = 1e-5
"""float32 noise between two exact computations of the same numbers in different orders."""

TL_SWEEPS = [
    # (our site, per_position, TransformerLens function)
    ("resid_pre", True, tlp.get_act_patch_resid_pre),
    ("attn_out", True, tlp.get_act_patch_attn_out),
    ("mlp_out", True, tlp.get_act_patch_mlp_out),
    ("z", False, tlp.get_act_patch_attn_head_out_all_pos),
    ("q", False, tlp.get_act_patch_attn_head_q_all_pos),
    ("k", False, tlp.get_act_patch_attn_head_k_all_pos),
    ("v", False, tlp.get_act_patch_attn_head_v_all_pos),
    ("pattern", False, tlp.get_act_patch_attn_head_pattern_all_pos),
    ("z", True, tlp.get_act_patch_attn_head_out_by_pos),
    ("q", True, tlp.get_act_patch_attn_head_q_by_pos),
    ("k", True, tlp.get_act_patch_attn_head_k_by_pos),
    ("v", True, tlp.get_act_patch_attn_head_v_by_pos),
    ("pattern", True, tlp.get_act_patch_attn_head_pattern_by_pos),
]


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def setup(request):
    model = tiny_model(request.param)
    gen = torch.Generator().manual_seed(1)
    clean = torch.randint(4, 64, (3, 6), generator=gen)
    clean[:, 0] = 1
    corrupted = clean.clone()
    corrupted[:, 2] = torch.randint(4, 64, (3,), generator=gen)
    corrupted[:, 4] = torch.randint(4, 64, (3,), generator=gen)
    metric = logit_diff(torch.tensor([5, 6, 7]), torch.tensor([8, 9, 10]))
    _, clean_cache = model.bridge.run_with_cache(clean)
    return model, clean, corrupted, metric, clean_cache


@pytest.mark.parametrize(("site", "per_position", "tl_fn"), TL_SWEEPS, ids=lambda x: getattr(x, "func", x))
def test_sweep_equals_transformer_lens(setup, site, per_position, tl_fn):
    model, clean, corrupted, metric, clean_cache = setup
    ours = activation_patching(
        model, clean, corrupted, metric, site=site, per_position=per_position, progress=False
    )
    theirs = tl_fn(model.bridge, corrupted, clean_cache, lambda logits: metric(logits).mean())
    assert ours.scores.shape == theirs.shape
    assert (ours.scores - theirs.cpu()).abs().max() <= FP32_TOL


@pytest.mark.parametrize("site", ["resid_mid", "resid_post"])
@pytest.mark.parametrize("direction", ["denoising", "noising"])
def test_sweeps_without_transformer_lens_twin_equal_hook_loop(setup, site, direction):
    # The bridge's hook_resid_mid feeds only the MLP, so TransformerLens's resid_mid sweep on a
    # bridge does not patch the residual stream; the hook loop patches it as HookedTransformer does.
    model, clean, corrupted, metric, _ = setup
    kw = dict(site=site, per_position=True, direction=direction, progress=False)
    fast = activation_patching(model, clean, corrupted, metric, **kw)
    slow = activation_patching(model, clean, corrupted, metric, engine=HookEngine(model), **kw)
    assert (fast.per_prompt - slow.per_prompt).abs().max() <= FP32_TOL


def test_noising_and_normalised_recovery(setup):
    model, clean, corrupted, metric, _ = setup
    r = activation_patching(
        model, clean, corrupted, metric, site="resid_pre", per_position=True, progress=False
    )
    # Patching the whole residual stream at layer 0 at every changed position restores the clean run.
    with torch.no_grad():
        clean_score = float(metric(model.run(clean)).mean())
    assert r.target == pytest.approx(clean_score, abs=FP32_TOL)
    assert r.normalized()[0, 0].item() == pytest.approx(0.0, abs=1e-4)  # BOS is identical in both runs
    n = activation_patching(model, clean, corrupted, metric, site="z", direction="noising", progress=False)
    slow = activation_patching(
        model,
        clean,
        corrupted,
        metric,
        site="z",
        direction="noising",
        engine=HookEngine(model),
        progress=False,
    )
    assert n.baseline == pytest.approx(clean_score, abs=FP32_TOL)
    assert (n.scores - slow.scores).abs().max() <= FP32_TOL


@pytest.mark.parametrize("kind", ["zero", "mean", "resample"])
def test_ablations_equal_hook_loop(setup, kind):
    model, clean, corrupted, metric, _ = setup
    ref = torch.cat([clean, corrupted])
    kw = dict(site="z", per_position=True, kind=kind, reference=ref, seed=3, progress=False)
    fast = ablation(model, clean, metric, **kw)
    slow = ablation(model, clean, metric, engine=HookEngine(model), **kw)
    assert (fast.per_prompt - slow.per_prompt).abs().max() <= FP32_TOL
    assert fast.method == f"{kind}_ablation"


def test_zero_ablation_matches_transformer_lens_hook(setup):
    model, clean, _, metric, _ = setup
    r = ablation(model, clean, metric, site="mlp_out", kind="zero", progress=False)

    def zero(act, hook):
        return torch.zeros_like(act)

    expected = metric(model.run_with_hooks(clean, fwd_hooks=[("blocks.1.hook_mlp_out", zero)])).mean()
    assert r.scores[1].item() == pytest.approx(expected.item(), abs=FP32_TOL)


def test_builtin_metrics_equal_their_definitions(setup):
    model, clean, corrupted, _, _ = setup
    answers = torch.tensor([5, 6, 7])
    clean_logits = model.run(clean)
    metrics = [answer_prob(answers), accuracy(answers), kl_to_clean(clean_logits[:, -1:])]
    for metric in metrics:
        fast = activation_patching(model, clean, corrupted, metric, site="z", progress=False)
        slow = activation_patching(
            model, clean, corrupted, metric, site="z", engine=HookEngine(model), progress=False
        )
        assert (fast.per_prompt - slow.per_prompt).abs().max() <= FP32_TOL
    probs = clean_logits[:, -1].softmax(-1)[torch.arange(3), answers]
    assert torch.allclose(answer_prob(answers)(clean_logits), probs, atol=1e-6)
    assert kl_to_clean(clean_logits[:, -1:])(clean_logits).abs().max() < 1e-5


def test_metric_at_several_positions_and_chunking(setup):
    model, clean, corrupted, _, _ = setup
    metric = logit_diff(5, 8, positions=[1, 3, -1])
    one = activation_patching(model, clean, corrupted, metric, site="z", per_position=True, progress=False)
    tiny_budget = activation_patching(
        model, clean, corrupted, metric, site="z", per_position=True, memory_budget=1, progress=False
    )
    slow = activation_patching(
        model, clean, corrupted, metric, site="z", per_position=True, engine=HookEngine(model), progress=False
    )
    again = activation_patching(
        model, clean, corrupted, metric, site="z", per_position=True, memory_budget=1, progress=False
    )
    # Other chunk sizes are other matmul shapes: equal within float32 noise, bit-equal only when repeated.
    assert (one.per_prompt - tiny_budget.per_prompt).abs().max() <= FP32_TOL
    assert torch.equal(tiny_budget.per_prompt, again.per_prompt)
    assert (one.per_prompt - slow.per_prompt).abs().max() <= FP32_TOL


def test_bad_input_is_rejected_clearly(setup):
    model, clean, corrupted, metric, _ = setup
    with pytest.raises(ValueError, match="same shape"):
        activation_patching(model, clean, corrupted[:, :-1], metric, progress=False)
    with pytest.raises(ValueError, match="position 9 is out of range"):
        activation_patching(model, clean, corrupted, metric, per_position=True, positions=[9], progress=False)
    with pytest.raises(ValueError, match="metric position 7 is out of range"):
        activation_patching(model, clean, corrupted, logit_diff(5, 6, positions=7), progress=False)
    scalar = Metric(fn=lambda logits: logits.sum(), positions=torch.tensor(-1), name="total")
    with pytest.raises(ValueError, match="one value per prompt"):
        activation_patching(model, clean, corrupted, scalar, progress=False)
    # Under the test suite's runtime type checks the Literal annotation rejects it first.
    with pytest.raises((ValueError, TypeError), match="hook_z"):
        activation_patching(model, clean, corrupted, metric, site="hook_z", progress=False)
    with pytest.raises(ValueError, match="layer 5 is out of range"):
        activation_patching(model, clean, corrupted, metric, layers=[5], progress=False)


def test_result_table_plot_and_json(setup):
    model, clean, corrupted, metric, _ = setup
    r = activation_patching(model, clean, corrupted, metric, site="z", per_position=True, progress=False)
    df = r.df
    assert list(df.columns[:4]) == ["site", "layer", "pos", "head"]
    assert len(df) == r.scores.numel()
    assert {"score", "normalized", "metric"} <= set(df.columns)
    fig = r.plot()
    assert fig.data[0].type == "heatmap"
    back = PatchingResult.from_json(r.to_json())
    assert torch.allclose(back.scores, r.scores.double()) and back.axes == r.axes


@pytest.mark.parametrize("name", ["induction-2l"])
def test_zoo_model_sweeps_equal_transformer_lens(name):
    from interp.loading import load_model
    from interp.zoo.registry import zoo_names

    if name not in zoo_names():
        pytest.skip(f"zoo model {name!r} is not in data/zoo yet")
    model = load_model(f"zoo:{name}")
    gen = torch.Generator().manual_seed(5)
    vocab = model.d_vocab
    clean = torch.randint(4, vocab, (2, 8), generator=gen)
    corrupted = clean.clone()
    corrupted[:, 3] = torch.randint(4, vocab, (2,), generator=gen)
    metric = logit_diff(torch.tensor([4, 5]), torch.tensor([6, 7]))
    _, clean_cache = model.bridge.run_with_cache(clean)
    for site, per_position, tl_fn in [TL_SWEEPS[0], TL_SWEEPS[3], TL_SWEEPS[8]]:
        ours = activation_patching(
            model, clean, corrupted, metric, site=site, per_position=per_position, progress=False
        )
        theirs = tl_fn(model.bridge, corrupted, clean_cache, lambda logits: metric(logits).mean())
        assert (ours.scores - theirs.cpu()).abs().max() <= FP32_TOL, site
