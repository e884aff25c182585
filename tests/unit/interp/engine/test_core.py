"""The fast engine against its slow twin (one hooked forward per cell on the bridge)."""

import random

import pytest
import torch

from interp.engine import Engine, HookEngine, Patch, accuracy, answer_prob, engine_for, logit_diff
from interp.engine.patches import HEAD_SITES, SITES, check_cells
from interp.testing import tiny_model

FP32_TOL = 1e-5


@pytest.fixture(scope="module", params=["gpt2", "neox", "llama"])
def setup(request):
    model = tiny_model(request.param)
    gen = torch.Generator().manual_seed(4)
    clean = torch.randint(4, 64, (2, 7), generator=gen)
    clean[:, 0] = 1
    corrupted = clean.clone()
    corrupted[:, 3] = torch.randint(4, 64, (2,), generator=gen)
    return model, clean, corrupted


def _random_patch(rng, trace, model, n_pos):
    # Parallel-residual models have no resid_mid hook on the bridge: draw only sites the twin has.
    layer, site = rng.choice(sorted(k for k in trace.acts if k[1] in SITES))
    pos = rng.choice([None, *range(n_pos)])
    head = None
    act = trace.act(layer, site)
    if site in HEAD_SITES:
        head = rng.randrange(model.n_kv_heads if site in ("k", "v") else model.n_heads)
        act = act[:, head] if site == "pattern" else act[:, :, head]
    value = act if pos is None else act[:, pos]
    return Patch(layer=layer, site=site, head=head, pos=pos, value=value + 0.3 * torch.randn_like(value))


def test_trace_equals_bridge_cache(setup):
    model, clean, _ = setup
    fast, slow = Engine(model.weights).trace(clean), HookEngine(model).trace(clean)
    for key, act in slow.acts.items():
        assert (fast.act(*key) - act).abs().max() <= FP32_TOL, key


def test_random_multi_patch_cells_equal_hook_loop(setup):
    model, clean, corrupted = setup
    rng = random.Random(0)
    fast_engine, slow_engine = Engine(model.weights), HookEngine(model)
    src = slow_engine.trace(clean)
    cells = [
        [_random_patch(rng, src, model, clean.shape[1]) for _ in range(rng.randint(1, 3))] for _ in range(40)
    ]
    cells.append([])
    metric = logit_diff(torch.tensor([5, 6]), torch.tensor([7, 8]), positions=[2, -1])
    fast = fast_engine.run(fast_engine.trace(corrupted), cells, metric)
    slow = slow_engine.run(slow_engine.trace(corrupted), cells, metric)
    assert (fast.cpu() - slow).abs().max() <= FP32_TOL


def test_chunking_gives_the_same_numbers(setup):
    # Chunks of other sizes run matmuls of other shapes, whose float32 sums the CPU's kernels may
    # order differently: chunked and unchunked agree within float32 noise, and the same chunking
    # run twice agrees bit for bit.
    model, clean, corrupted = setup
    big, small = Engine(model.weights), Engine(model.weights, memory_budget=1)
    src = big.trace(clean)
    cells = [
        [Patch(layer=1, site="z", head=h, pos=p, value=src.act(1, "z")[:, p, h])]
        for h in range(4)
        for p in range(7)
    ]
    metric = logit_diff(5, 6)
    a, b = big.run(big.trace(corrupted), cells, metric), small.run(small.trace(corrupted), cells, metric)
    assert (a - b).abs().max() <= FP32_TOL
    assert torch.equal(b, small.run(small.trace(corrupted), cells, metric))


def test_bfloat16_stays_close(setup):
    model, clean, corrupted = setup
    f32, bf16 = Engine(model.weights), Engine(model.weights, dtype=torch.bfloat16)
    src = f32.trace(clean)
    cells = [[Patch(layer=0, site="resid_pre", pos=3, value=src.act(0, "resid_pre")[:, 3])]]
    metric = logit_diff(5, 6)
    a = f32.run(f32.trace(corrupted), cells, metric)
    b = bf16.run(bf16.trace(corrupted), cells, metric)
    assert b.dtype == torch.float32 and (a - b).abs().max() < 0.1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_equals_cpu(setup):
    model, clean, corrupted = setup
    cpu, gpu = Engine(model.weights), Engine(model.weights, device="cuda")
    src = cpu.trace(clean)
    cells = [[Patch(layer=1, site="z", head=h, value=src.act(1, "z")[:, :, h])] for h in range(4)]
    metric = logit_diff(5, 6)
    a = cpu.run(cpu.trace(corrupted), cells, metric)
    b = gpu.run(gpu.trace(corrupted.cuda()), cells, metric)
    assert (a - b.cpu()).abs().max() <= 1e-4


def test_bad_patches_are_rejected(setup):
    model, clean, _ = setup
    engine = Engine(model.weights)
    trace = engine.trace(clean)
    value = torch.zeros(1, 32)
    metric = logit_diff(5, 6)
    with pytest.raises(ValueError, match="patch position 9 is out of range"):
        engine.run(trace, [[Patch(layer=0, site="resid_pre", pos=9, value=value)]], metric)
    with pytest.raises(ValueError, match="patch layer 2 is out of range"):
        engine.run(trace, [[Patch(layer=2, site="resid_pre", pos=1, value=value)]], metric)
    with pytest.raises(ValueError, match="needs a head index"):
        Patch(layer=0, site="z", value=value)
    with pytest.raises(ValueError, match="memory_budget"):
        Engine(model.weights, memory_budget=0)
    for eng in (engine, HookEngine(model)):
        with pytest.raises(ValueError, match="no cells to run; expected at least one list of patches"):
            eng.run(eng.trace(clean), [], metric)
    with pytest.raises(TypeError, match="cell 0 must be a list of Patch objects"):
        check_cells([["not a patch"]])  # the test run's type checks stop it before the engine's own
    assert isinstance(engine_for(model), Engine)
    assert isinstance(engine_for(model, backend="hooks"), HookEngine)


def test_several_metrics_in_one_pass_equal_each_run_alone(setup):
    model, clean, corrupted = setup
    rng = random.Random(1)
    metrics = [
        logit_diff(torch.tensor([5, 6]), torch.tensor([7, 8]), positions=[2, -1]),
        accuracy(torch.tensor([9, 10]), positions=torch.tensor([[3], [5]])),
        answer_prob(torch.tensor([11, 12]), positions=-1),
    ]
    for engine in (Engine(model.weights), HookEngine(model)):
        src = engine.trace(clean)
        cells = [[_random_patch(rng, src, model, clean.shape[1])] for _ in range(12)] + [[]]
        base = engine.trace(corrupted)
        columns = [metrics[0], logit_diff(torch.tensor([8, 3]), torch.tensor([5, 13]), positions=4)]
        for group in (metrics, columns):  # all vocabulary read, or the union of two metrics' columns
            together = engine.run_metrics(base, cells, group)
            for metric, values in zip(group, together, strict=True):
                assert (values.cpu() - engine.run(base, cells, metric).cpu()).abs().max() <= FP32_TOL
    with pytest.raises(ValueError, match="expected at least one Metric"):
        Engine(model.weights).run_metrics(base, cells, [])
