"""Attribution patching (EAP, EAP-IG) against TransformerLens ``attribution_patch``."""

import pytest
import torch
from transformer_lens.tools.analysis.attribution_patching import EdgeAttributionConfig, attribution_patch

from circuits.attribution_patching import attribution_patching
from interp.engine import logit_diff
from interp.testing import tiny_model

FP32_TOL = 1e-5


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def setup(request):
    model = tiny_model(request.param)
    gen = torch.Generator().manual_seed(3)
    clean = torch.randint(4, 64, (2, 5), generator=gen)
    clean[:, 0] = 1
    corrupted = clean.clone()
    corrupted[:, 2] = torch.randint(4, 64, (2,), generator=gen)
    # One answer pair for every prompt: TransformerLens calls the metric on one prompt at a time.
    metric = logit_diff(11, 12)
    return model, clean, corrupted, metric


def _label(node):
    if node.kind == "embed":
        return "embed"
    if node.kind == "attn_head_out":
        return f"L{node.layer}H{node.head}"
    if node.kind == "mlp_out":
        return f"MLP{node.layer}"
    if node.kind == "mlp_in":
        return f"MLP{node.layer}.in"
    if node.kind == "logits":
        return "logits"
    return f"L{node.layer}H{node.head}.{node.kind[0]}"


def test_node_eap_equals_transformer_lens(setup):
    model, clean, corrupted, metric = setup
    ours = attribution_patching(model, clean, corrupted, metric, per_position=True)
    theirs = attribution_patch(model.bridge, clean, corrupted, lambda logits: metric(logits)[0])
    index = {name: i for i, name in enumerate(ours.labels["node"])}
    assert len(theirs.node_scores) == ours.scores.numel()
    diff = max(
        abs(ours.scores[index[_label(n)], n.position].item() - s) for n, s in theirs.node_scores.items()
    )
    assert diff <= FP32_TOL


def test_edge_eap_equals_transformer_lens(setup):
    model, clean, corrupted, metric = setup
    if model.n_kv_heads != model.n_heads:
        pytest.skip("TransformerLens refuses edge attribution under grouped-query attention")
    ours = attribution_patching(model, clean, corrupted, metric, level="edge", per_position=True)
    theirs = attribution_patch(
        model.bridge,
        clean,
        corrupted,
        lambda logits: metric(logits)[0],
        EdgeAttributionConfig(granularity="edge"),
    )
    send = {name: i for i, name in enumerate(ours.labels["sender"])}
    recv = {name: i for i, name in enumerate(ours.labels["receiver"])}
    diff = max(
        abs(ours.scores[send[_label(u)], recv[_label(v)], u.position].item() - s)
        for (u, v), s in theirs.edge_scores.items()
    )
    assert diff <= FP32_TOL
    assert (~torch.isnan(ours.scores)).sum() == len(theirs.edge_scores)


def test_eap_ig_one_step_is_eap_and_many_steps_are_complete(setup):
    model, clean, corrupted, metric = setup
    eap = attribution_patching(model, clean, corrupted, metric, level="edge")
    ig1 = attribution_patching(model, clean, corrupted, metric, level="edge", ig_steps=1)
    assert torch.equal(torch.nan_to_num(eap.scores), torch.nan_to_num(ig1.scores))
    # Completeness of integrated gradients at the input: the embedding's score tends to the metric gap.
    ig = attribution_patching(model, clean, corrupted, metric, ig_steps=24)
    gap = (metric(model.run(clean)) - metric(model.run(corrupted))).mean().item()
    embed = ig.scores[ig.labels["node"].index("embed")].item()
    assert embed == pytest.approx(gap, rel=0.05, abs=1e-3)
    assert ig.method == "eap_ig"


def test_edges_sum_to_nodes_and_bad_input(setup):
    model, clean, corrupted, metric = setup
    edges = attribution_patching(model, clean, corrupted, metric, level="edge")
    nodes = attribution_patching(model, clean, corrupted, metric)
    # A head's output written at z equals the sum of its edges, the logits edge included.
    for name in ["L0H1", "L1H3", "MLP0"]:
        i = edges.labels["sender"].index(name)
        j = nodes.labels["node"].index(name)
        assert torch.nansum(edges.scores[i]).item() == pytest.approx(nodes.scores[j].item(), abs=1e-4)
    df = edges.df
    assert {"sender", "receiver", "score"} <= set(df.columns) and df["score"].notna().all()
    with pytest.raises(ValueError, match="same shape"):
        attribution_patching(model, clean, corrupted[:, :3], metric)
    with pytest.raises(ValueError, match="ig_steps"):
        attribution_patching(model, clean, corrupted, metric, ig_steps=0)
