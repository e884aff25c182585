"""Path patching against TransformerLens ``get_act_patch_direct_path`` and a plain hook loop."""

import pytest
import torch
import transformer_lens.patching as tlp

from circuits.path_patching import path_patching
from interp.engine import logit_diff
from interp.testing import tiny_model

FP32_TOL = 1e-5


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def setup(request):
    model = tiny_model(request.param)
    gen = torch.Generator().manual_seed(2)
    clean = torch.randint(4, 64, (3, 6), generator=gen)
    clean[:, 0] = 1
    corrupted = clean.clone()
    corrupted[:, 1:4] = torch.randint(4, 64, (3, 3), generator=gen)
    metric = logit_diff(torch.tensor([5, 6, 7]), torch.tensor([8, 9, 10]))
    return model, clean, corrupted, metric


def test_direct_path_equals_transformer_lens(setup):
    model, clean, corrupted, metric = setup
    _, clean_cache = model.bridge.run_with_cache(clean)
    _, corrupt_cache = model.bridge.run_with_cache(corrupted)
    components = ["q", "k", "v"] if model.n_kv_heads == model.n_heads else ["q"]
    for component in components:
        ours = path_patching(
            model,
            clean,
            corrupted,
            metric,
            senders=[(0, h) for h in range(4)],
            receivers=None,
            components=[component],
            per_receiver=True,
            direction="denoising",
            through_mlps=False,
        )
        for h in range(4):
            theirs = tlp.get_act_patch_direct_path(
                model.bridge,
                corrupted,
                clean_cache,
                corrupt_cache,
                lambda logits: metric(logits).mean(),
                src_layer=0,
                src_head=h,
                component=component,
                verbose=False,
            )
            # TransformerLens fills receivers not after the sender with 0.0 placeholders; ours are NaN.
            assert torch.isnan(ours.scores[0, h, 0]).all()
            assert (ours.scores[0, h, 1:] - theirs[1:].cpu()).abs().max() <= FP32_TOL


def _hook_loop(model, base, src, metric, sender, receivers, components, through_mlps):
    """Wang et al.'s recipe with plain hooks: freeze every head but the sender, then patch receivers."""
    names = lambda n: n.endswith("hook_z") or n.endswith("hook_resid_pre")  # noqa: E731
    _, base_cache = model.run_with_cache(base, names_filter=names)
    _, src_cache = model.run_with_cache(src, names_filter=names)
    sl, sh = sender
    delta = (
        src_cache[f"blocks.{sl}.attn.hook_z"][:, :, sh] - base_cache[f"blocks.{sl}.attn.hook_z"][:, :, sh]
    ) @ (model.weights.W_O[sl, sh])
    if receivers == "logits":
        if through_mlps:
            hooks = []
            for layer in range(model.n_layers):
                name = f"blocks.{layer}.attn.hook_z"

                def freeze(z, hook, name=name, layer=layer):
                    out = base_cache[name].clone()
                    if layer == sl:
                        out[:, :, sh] = src_cache[name][:, :, sh]
                    return out

                hooks.append((name, freeze))
        else:
            last = f"blocks.{model.n_layers - 1}.hook_resid_post"
            hooks = [(last, lambda x, hook: x + delta)]
        return metric(model.run_with_hooks(base, fwd_hooks=hooks))
    assert through_mlps
    captured = {}
    hooks = []
    for layer in range(model.n_layers):
        name = f"blocks.{layer}.attn.hook_z"

        def freeze(z, hook, name=name, layer=layer):
            out = base_cache[name].clone()
            if layer == sl:
                out[:, :, sh] = src_cache[name][:, :, sh]
            return out

        hooks.append((name, freeze))
    for rl, rh in receivers:
        for c in components:

            def grab(x, hook, key=(rl, rh, c)):
                captured[key] = x[:, :, key[1]].clone()

            hooks.append((f"blocks.{rl}.attn.hook_{c}", grab))
    model.run_with_hooks(base, fwd_hooks=hooks)
    patch = []
    for (rl, rh, c), value in captured.items():

        def put(x, hook, rh=rh, value=value):
            x = x.clone()
            x[:, :, rh] = value
            return x

        patch.append((f"blocks.{rl}.attn.hook_{c}", put))
    return metric(model.run_with_hooks(base, fwd_hooks=patch))


@pytest.mark.parametrize("direction", ["noising", "denoising"])
def test_path_through_mlps_equals_hook_loop(setup, direction):
    model, clean, corrupted, metric = setup
    base, src = (clean, corrupted) if direction == "noising" else (corrupted, clean)
    receivers = [(1, 0), (1, 3)]
    components = ("q", "k", "v") if model.n_kv_heads == model.n_heads else ("q",)
    ours = path_patching(
        model,
        clean,
        corrupted,
        metric,
        senders=[(0, 1), (0, 2)],
        receivers=receivers,
        components=components,
        direction=direction,
    )
    for sender in [(0, 1), (0, 2)]:
        expected = _hook_loop(model, base, src, metric, sender, receivers, components, True)
        assert (ours.per_prompt[sender] - expected).abs().max() <= FP32_TOL
    assert torch.isnan(ours.scores[1]).all()


@pytest.mark.parametrize("through_mlps", [True, False])
def test_path_to_logits_equals_hook_loop(setup, through_mlps):
    model, clean, corrupted, metric = setup
    ours = path_patching(model, clean, corrupted, metric, receivers="logits", through_mlps=through_mlps)
    for sender in [(0, 0), (1, 2)]:
        expected = _hook_loop(model, clean, corrupted, metric, sender, "logits", (), through_mlps)
        assert (ours.per_prompt[sender] - expected).abs().max() <= FP32_TOL
    # Merullo et al.'s score: (LD_patched - LD_clean) / (LD_corrupt - LD_clean).
    ld_clean, ld_corrupt = metric(model.run(clean)).mean(), metric(model.run(corrupted)).mean()
    expected = (ours.scores - ld_clean) / (ld_corrupt - ld_clean)
    assert torch.allclose(ours.normalized().float(), expected.float(), atol=1e-4)


def test_last_position_sender_and_bad_input(setup):
    model, clean, corrupted, metric = setup
    r = path_patching(model, clean, corrupted, metric, sender_positions=[-1], through_mlps=False)
    assert r.meta["sender_positions"] == [5]
    with pytest.raises(ValueError, match="same shape"):
        path_patching(model, clean, corrupted[:, :4], metric)
    with pytest.raises(ValueError, match="sender position 8 is out of range"):
        path_patching(model, clean, corrupted, metric, sender_positions=[8])
    with pytest.raises(ValueError, match="sender: head 7 is out of range"):
        path_patching(model, clean, corrupted, metric, senders=[(0, 7)])
    if model.n_kv_heads != model.n_heads:
        with pytest.raises(ValueError, match="shares keys and values"):
            path_patching(model, clean, corrupted, metric, receivers=[(1, 0)], components=["k"])
