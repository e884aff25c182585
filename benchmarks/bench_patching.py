"""Benchmark: our batched patching sweeps against TransformerLens 4.3 ``patching``, same model and inputs.

Cases:
  (a) GPT-2-small architecture (random weights from ``GPT2Config()``), batch 8, 16 tokens,
      logit difference at the last position: the head-output sweep over all positions.
  (b) The same model and inputs: the head x position sweep. TransformerLens runs one forward
      per cell; when that would take over 10 minutes a random sample of its cells is timed
      and the total extrapolated (the table says so).
  (c) A zoo model (``interp.zoo.zoo_names()``): every sweep TransformerLens offers.

For each sweep the table shows both times, their ratio, the largest absolute difference
between the two result grids, and our efficiency: the ideal time (the matmul work our sweep
must do, including the clean and corrupted runs and the unembedding the metric needs, at the
model's plain batched forward speed) divided by our time. The plain speed is measured on the
Hugging Face model's own forward of the benchmark prompts repeated to one engine chunk's batch.

Usage:
    python benchmarks/bench_patching.py [--device cuda] [--dtype bfloat16] [--cases a,b,c]
        [--threads 2] [--repeats 3]
"""

import argparse
import random
import time

import torch
import transformer_lens.patching as tlp

from circuits.activation_patching import activation_patching
from interp.engine import Engine, logit_diff

TL_LIMIT_S = 600.0
TL_MAX_CELLS = 400
"""Above this many cells TransformerLens is timed on a random sample (the machine may be shared)."""


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def best_time(fn, repeats: int, device: str):
    best, out = float("inf"), None
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        out = fn()
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return best, out


def gpt2_small(device: str, dtype: torch.dtype):
    from transformers import GPT2Config, GPT2LMHeadModel

    from interp.loading import load_model
    from interp.testing import word_tokenizer

    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config()).eval()
    tok = word_tokenizer(vocab_size=hf.config.vocab_size)
    return load_model(hf, tokenizer=tok, device=device, dtype=dtype)


def inputs(model, batch: int = 8, n_pos: int = 16, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    vocab = model.d_vocab
    clean = torch.randint(4, vocab, (batch, n_pos), generator=gen)
    clean[:, 0] = 1
    corrupted = clean.clone()
    for p in (n_pos // 4, n_pos // 2):
        corrupted[:, p] = torch.randint(4, vocab, (batch,), generator=gen)
    correct = torch.randint(4, vocab, (batch,), generator=gen)
    wrong = torch.randint(4, vocab, (batch,), generator=gen)
    return clean.to(model.device), corrupted.to(model.device), logit_diff(correct, wrong)


def plain_flop_rate(model, engine: Engine, clean: torch.Tensor, copies: int, repeats: int) -> float:
    """FLOP/s of a plain batched forward (no unembedding) of ``copies`` x the prompts.

    The faster of the Hugging Face model's own forward and the engine's unpatched forward.
    """
    tokens = clean.repeat(copies, 1)
    body = getattr(model.hf_model, "transformer", None) or getattr(model.hf_model, "model", None)
    engine.flops = 0.0
    engine.trace(tokens)
    flops = engine.flops
    with torch.no_grad():
        t_hf, _ = best_time(lambda: body(tokens), repeats, str(model.device))
    t_engine, _ = best_time(lambda: engine.trace(tokens), repeats, str(model.device))
    return flops / min(t_hf, t_engine)


def ours(model, engine, clean, corrupted, metric, site, per_position, repeats):
    def go():
        engine.flops = 0.0
        return activation_patching(
            model,
            clean,
            corrupted,
            metric,
            site=site,
            per_position=per_position,
            engine=engine,
            progress=False,
        )

    t, result = best_time(go, repeats, str(model.device))
    return t, result, engine.flops


def theirs(model, clean, corrupted, metric, tl_fn, n_cells: int, est_cell_s: float, repeats: int):
    """TransformerLens's sweep; a random sample of cells when the whole would exceed the limit."""
    tl_metric = lambda logits: metric(logits).mean()  # noqa: E731

    def cache():
        return model.bridge.run_with_cache(clean)[1]

    if n_cells * est_cell_s <= TL_LIMIT_S and n_cells <= TL_MAX_CELLS:

        def go():
            with torch.no_grad():
                return tl_fn(model.bridge, corrupted, cache(), tl_metric)

        t, out = best_time(go, repeats, str(model.device))
        return t, out, None
    keywords = tl_fn.keywords
    axes = keywords["index_axis_names"]
    sizes = {
        "layer": model.n_layers,
        "pos": clean.shape[1],
        "head": model.n_heads,
        "head_index": model.n_heads,
    }
    sizes["dest_pos"] = sizes["pos"]
    if keywords["activation_name"] in ("k", "v"):
        sizes["head"] = sizes["head_index"] = model.n_kv_heads
    full = tlp.make_df_from_ranges([sizes[a] for a in axes], list(axes))
    n_sample = min(200, max(48, int(TL_LIMIT_S / 10 / est_cell_s)))
    rows = sorted(random.Random(0).sample(range(len(full)), min(n_sample, len(full))))
    sample = full.iloc[rows].reset_index(drop=True)

    def go():
        with torch.no_grad():
            return tlp.generic_activation_patch(
                model.bridge,
                corrupted,
                cache(),
                tl_metric,
                patch_setter=keywords["patch_setter"],
                activation_name=keywords["activation_name"],
                index_df=sample,
            )

    t, out = best_time(go, 1, str(model.device))
    return t * len(full) / len(sample), out, (sample, len(full))


def compare(
    model, engine, clean, corrupted, metric, name, site, per_position, tl_fn, rate, repeats, tl_repeats
):
    t_ours, result, flops = ours(model, engine, clean, corrupted, metric, site, per_position, repeats)
    with torch.no_grad():
        _sync(str(model.device))
        t0 = time.perf_counter()
        model.bridge(corrupted)
        _sync(str(model.device))
        est = time.perf_counter() - t0
    n_cells = result.scores.numel()
    t_tl, tl_out, sampled = theirs(model, clean, corrupted, metric, tl_fn, n_cells, est, tl_repeats)
    if sampled is None:
        diff = (result.scores - tl_out.float().cpu()).abs().max().item()
        note = ""
    else:
        sample, total = sampled
        idx = tuple(torch.tensor(sample[c].values) for c in sample.columns)
        diff = (result.scores[idx] - tl_out.float().cpu()).abs().max().item()
        note = f"TL: {len(sample)} of {total} cells timed, extrapolated"
    ideal = flops / rate
    row = {
        "case": name,
        "cells": n_cells,
        "ours_s": t_ours,
        "tl_s": t_tl,
        "ratio": t_tl / t_ours,
        "max_abs_diff": diff,
        "efficiency": ideal / t_ours,
        "note": note,
    }
    print(row, flush=True)
    return row


def print_table(rows, header):
    print(header)
    cols = ["case", "cells", "ours_s", "tl_s", "ratio", "max_abs_diff", "efficiency", "note"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        cells = []
        for c in cols:
            v = r[c]
            if c in ("ours_s", "tl_s"):
                v = f"{v:.3f}"
            elif c in ("ratio", "efficiency"):
                v = f"{v:.2f}"
            elif c == "max_abs_diff":
                v = f"{v:.2e}"
            cells.append(str(v))
        print("| " + " | ".join(cells) + " |")


ZOO_SWEEPS = [
    ("resid_pre", True, "resid_pre x pos", tlp.get_act_patch_resid_pre),
    ("attn_out", True, "attn_out x pos", tlp.get_act_patch_attn_out),
    ("mlp_out", True, "mlp_out x pos", tlp.get_act_patch_mlp_out),
    ("z", False, "head out", tlp.get_act_patch_attn_head_out_all_pos),
    ("q", False, "head q", tlp.get_act_patch_attn_head_q_all_pos),
    ("k", False, "head k", tlp.get_act_patch_attn_head_k_all_pos),
    ("v", False, "head v", tlp.get_act_patch_attn_head_v_all_pos),
    ("pattern", False, "head pattern", tlp.get_act_patch_attn_head_pattern_all_pos),
    ("z", True, "head out x pos", tlp.get_act_patch_attn_head_out_by_pos),
    ("q", True, "head q x pos", tlp.get_act_patch_attn_head_q_by_pos),
    ("k", True, "head k x pos", tlp.get_act_patch_attn_head_k_by_pos),
    ("v", True, "head v x pos", tlp.get_act_patch_attn_head_v_by_pos),
    ("pattern", True, "head pattern x pos", tlp.get_act_patch_attn_head_pattern_by_pos),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--cases", default="a,b,c")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tl-repeats", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    cases = set(args.cases.split(","))
    header = (
        f"device={args.device} dtype={args.dtype} threads={torch.get_num_threads()} torch={torch.__version__}"
    )
    rows = []
    print(header, flush=True)
    if cases & {"a", "b"}:
        model = gpt2_small(args.device, dtype)
        clean, corrupted, metric = inputs(model)
        engine = Engine(model.weights, device=args.device, dtype=dtype)
        rate = plain_flop_rate(model, engine, clean, copies=model.n_heads, repeats=args.repeats)
        ours(model, engine, clean, corrupted, metric, "z", False, 1)  # warm-up
        if "a" in cases:
            rows.append(
                compare(
                    model,
                    engine,
                    clean,
                    corrupted,
                    metric,
                    "(a) gpt2-small head out",
                    "z",
                    False,
                    tlp.get_act_patch_attn_head_out_all_pos,
                    rate,
                    args.repeats,
                    args.tl_repeats,
                )
            )
        if "b" in cases:
            rows.append(
                compare(
                    model,
                    engine,
                    clean,
                    corrupted,
                    metric,
                    "(b) gpt2-small head out x pos",
                    "z",
                    True,
                    tlp.get_act_patch_attn_head_out_by_pos,
                    rate,
                    args.repeats,
                    args.tl_repeats,
                )
            )
    if "c" in cases:
        from interp.zoo.registry import zoo_names

        names = zoo_names()
        if not names:
            print("(c) skipped: no zoo model in data/zoo yet (interp.zoo.zoo_names() is empty)")
        else:
            from interp.loading import load_model

            model = load_model(f"zoo:{names[0]}", device=args.device, dtype=dtype)
            n_pos = min(16, model.n_ctx)
            clean, corrupted, metric = inputs(model, n_pos=n_pos)
            engine = Engine(model.weights, device=args.device, dtype=dtype)
            rate = plain_flop_rate(model, engine, clean, copies=model.n_heads, repeats=args.repeats)
            for site, per_pos, label, fn in ZOO_SWEEPS:
                rows.append(
                    compare(
                        model,
                        engine,
                        clean,
                        corrupted,
                        metric,
                        f"(c) {names[0]} {label}",
                        site,
                        per_pos,
                        fn,
                        rate,
                        args.repeats,
                        args.tl_repeats,
                    )
                )
    print_table(rows, header)


if __name__ == "__main__":
    main()
