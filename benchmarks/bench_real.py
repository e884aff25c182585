"""Benchmark: head finders and patching sweeps on the real pretrained SmolLM2-135M-Instruct.

The model is ``interp.load_model("smollm2-135m")`` (30 layers, 9 query heads, 3 key-value heads,
d_model 576, from its GGUF file), on the CPU.

Tables:
  1. ``interp heads`` per finder: the wall time of ``circuits.heads.find_heads(model, kinds, seed=0)``
     for each finder's kinds (``induction`` = previous_token, duplicate_token, induction;
     ``successor``; ``retrieval``; ``arithmetic``), the heads it found, the time of
     ``circuits.evidence.ablation_evidence(model, scores)`` on them, and the process's peak RSS after
     the row. A kind the model cannot be scored for shows the finder's reason instead of a time.
     With ``--quick`` each finder scores ``task_for(model, kind, n_prompts=QUICK_PROMPTS[kind])``
     (``find_heads(..., tasks=...)``) instead of its default inputs, and the evidence uses as many
     prompts (``ablation_evidence(..., n_prompts=...)``).
  2. Patching sweeps on the induction task (``task_for(model, "induction", n_prompts=N)``, its
     corrupted twin, the task's logit difference at each prompt's own position), denoising:
     the per-head output sweep (all 270 heads, ``hook_z`` per head) and the head x position sweep
     (on a subset of positions, named in the table). Methods: ours (``activation_patching`` on
     ``interp.engine.Engine``, as ``bench_patching.py`` runs it) and TransformerLens 4's
     ``transformer_lens.patching`` on ``model.bridge`` (its clean cache run included, as in
     ``bench_patching.py``; the position subset through ``generic_activation_patch(index_df=...)``).
     ``bench_patching.py`` has no hand-written hook loop, so neither has this table.

``--quick`` also shrinks the sweeps (``QUICK_SWEEPS``: 2 prompts, 2 positions, TransformerLens
timed once) unless ``--n-prompts``, ``--positions`` or ``--tl-repeats`` is given; the whole run then
takes under 10 minutes on one thread.

Timing: each repeat runs every method once, in turn (interleaved), after one untimed warm-up of
ours; ``seconds`` is the median over the runs (``runs``; ``--tl-repeats`` may give TransformerLens
fewer). ``ratio`` is the method's time over ours, ``max_abs_diff`` the largest absolute difference
of its result grid from ours.

Efficiency is ``bench_patching.py``'s: the ideal time of the sweep (the matmul FLOPs our engine
counts for it, clean and corrupted runs and the metric's unembedding included, at the plain
batched forward's FLOP rate from ``bench_patching.plain_flop_rate``, i.e. the faster of the
Hugging Face model's forward and the engine's unpatched forward of the prompts repeated n_heads
times) over the method's time. ``forwards`` is the work the method runs, in plain forwards of the
N prompts: our engine's FLOPs over one plain forward's, and for TransformerLens one forward per
cell plus its clean cache run. So ``efficiency`` = forwards of ours x (time of one plain forward at
that rate) / seconds.

Usage:
    python benchmarks/bench_real.py [--quick] [--tables heads,sweeps]
        [--kinds induction,successor,retrieval,arithmetic] [--n-prompts 4] [--positions 3]
        [--repeats 3] [--tl-repeats R] [--threads 1] [--json out.json]
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

os.environ.setdefault("TQDM_DISABLE", "1")  # TransformerLens's per-cell progress bars

import torch
import transformer_lens.patching as tlp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_patching import _sync, plain_flop_rate

import interp
from circuits.activation_patching import activation_patching
from circuits.evidence import ablation_evidence, task_metric
from circuits.heads import FINDERS, HEAD_KINDS, find_heads
from circuits.heads.arithmetic_forms import solved_arithmetic_task
from circuits.tasks.registry import task_for
from interp.engine import Engine

MODEL = "smollm2-135m"

QUICK_PROMPTS = {"induction": 8, "retrieval": 4, "arithmetic": 8}
"""Prompts per finder's task with ``--quick`` (the defaults: 16 repeated-token prompts of 101 tokens,
40 haystacks of 320 tokens, 128 sums). The successor finder keeps its default (the tokenizer's
ordinal sets, a few seconds): a small successor task's few pairs are no ordinal sets. Arithmetic is
the form the model solves, as by default."""

SWEEP_DEFAULTS = {"n_prompts": 4, "positions": 3}
"""The sweeps' prompts and head x position positions: TransformerLens's head x position sweep is
n_layers x n_heads x positions forwards (810 of about 0.3 s each on one thread)."""

QUICK_SWEEPS = {"n_prompts": 2, "positions": 2, "tl_repeats": 1}
"""``--quick``'s sweeps, unless given: TransformerLens runs once (about 3 minutes on one thread)."""

HEADS_COLUMNS = ["finder", "kinds", "inputs", "find_s", "heads", "evidence_s", "peak_rss_mb", "note"]
SWEEP_COLUMNS = ["sweep", "method", "cells", "seconds", "runs", "ratio", "max_abs_diff", "forwards"]
SWEEP_COLUMNS += ["efficiency", "note"]


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def finder_groups(names: list[str]) -> dict[str, list[str]]:
    """The selected kinds by finder; a finder's name (``induction``) selects all its kinds."""
    groups: dict[str, list[str]] = {}
    for name in names:
        if name in FINDERS:
            kinds = list(FINDERS[name].kinds)
        elif name in HEAD_KINDS:
            kinds = [name]
        else:
            raise SystemExit(f"unknown kind {name!r}; expected some of {list(FINDERS) + list(HEAD_KINDS)}")
        for kind in kinds:
            group = groups.setdefault(HEAD_KINDS[kind].finder, [])
            if kind not in group:
                group.append(kind)
    return groups


def one_line(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split()).replace("|", "/")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def heads_row(model, finder: str, kinds: list[str], quick: bool) -> dict:
    row = {"finder": finder, "kinds": ",".join(kinds), "inputs": "default"}
    row |= {"find_s": None, "heads": "", "evidence_s": None, "note": ""}
    tasks = None
    try:
        if quick and finder in QUICK_PROMPTS:
            n = QUICK_PROMPTS[finder]
            if finder == "arithmetic":
                row["inputs"] = f"solved_arithmetic_task(n_prompts={n})"
                task = solved_arithmetic_task(model, n_prompts=n)
            else:
                row["inputs"] = f"task_for(n_prompts={n})"
                task = task_for(model, finder, n_prompts=n)  # each finder is named after its task
            tasks = {kinds[0]: task}
        t0 = time.perf_counter()
        scores = find_heads(model, kinds, seed=0, tasks=tasks)
        row["find_s"] = time.perf_counter() - t0
    except ValueError as err:
        row["note"], row["error"] = one_line(err), str(err)  # the table shows the first, JSON both
        row["peak_rss_mb"] = peak_rss_mb()
        return row
    row["heads"] = ", ".join(f"{k} {len(scores.heads(k))}" for k in kinds)
    t0 = time.perf_counter()
    evidence = (
        ablation_evidence(model, scores, n_prompts=QUICK_PROMPTS[finder])
        if quick and finder in QUICK_PROMPTS
        else ablation_evidence(model, scores)
    )
    row["evidence_s"] = time.perf_counter() - t0
    done = [str(r.df["kind"].iloc[0]) for r in evidence if len(r.df)]
    if len(done) < sum(bool(scores.heads(k)) for k in kinds):
        row["note"] = "evidence for " + (",".join(done) or "no kind")
    row["peak_rss_mb"] = peak_rss_mb()
    return row


def heads_table(model, names: list[str], quick: bool) -> list[dict]:
    rows = []
    for finder, kinds in finder_groups(names).items():
        row = heads_row(model, finder, kinds, quick)
        print(row, flush=True)
        rows.append(row)
    return rows


def sweeps_table(model, n_prompts: int, n_positions: int, repeats: int, tl_repeats: int) -> list[dict]:
    device = str(model.device)
    task = task_for(model, "induction", n_prompts=n_prompts)
    clean, corrupted = task.clean_tokens.to(device), task.corrupted_tokens.to(device)
    metric = task_metric(task)
    tl_metric = lambda logits: metric(logits).mean()  # noqa: E731
    n_pos = clean.shape[1]
    # Evenly spaced from position 1 (after BOS) to the last metric position, the last always included
    last = int(task.positions.max())
    step = (last - 1) / max(1, n_positions - 1)
    positions = sorted({round(last - i * step) for i in range(min(n_positions, last))})
    engine = Engine(model.weights, device=device)
    rate = plain_flop_rate(model, engine, clean, copies=model.n_heads, repeats=repeats)
    engine.flops = 0.0
    engine.trace(clean)
    forward_flops = engine.flops

    def ours(per_position: bool):
        def go():
            engine.flops = 0.0
            result = activation_patching(
                model,
                clean,
                corrupted,
                metric,
                site="z",
                per_position=per_position,
                positions=positions if per_position else None,
                engine=engine,
                progress=False,
            )
            return result.scores.float().cpu(), engine.flops

        return go

    def tl_head_out():
        with torch.no_grad():
            cache = model.bridge.run_with_cache(clean)[1]
            out = tlp.get_act_patch_attn_head_out_all_pos(model.bridge, corrupted, cache, tl_metric)
        return out.float().cpu(), None

    by_pos = tlp.get_act_patch_attn_head_out_by_pos.keywords
    index_df = tlp.make_df_from_ranges(
        [model.n_layers, len(positions), model.n_heads], list(by_pos["index_axis_names"])
    )
    index_df["pos"] = [positions[i] for i in index_df["pos"]]

    def tl_head_pos():
        with torch.no_grad():
            cache = model.bridge.run_with_cache(clean)[1]
            out = tlp.generic_activation_patch(
                model.bridge,
                corrupted,
                cache,
                tl_metric,
                patch_setter=by_pos["patch_setter"],
                activation_name=by_pos["activation_name"],
                index_df=index_df,
            )
        # generic_activation_patch returns the cells in index_df's order: layer, then pos, then head
        return out.float().cpu().reshape(model.n_layers, len(positions), model.n_heads), None

    pos_note = f"positions {positions} of 0-{n_pos - 1} (metric read at {int(task.positions.min())}-{last})"
    sweeps = [
        ("head out", model.n_layers * model.n_heads, "all positions at once", ours(False), tl_head_out),
        ("head out x pos", len(index_df), pos_note, ours(True), tl_head_pos),
    ]
    rows = []
    for sweep, cells, note, ours_fn, tl_fn in sweeps:
        ours_fn()  # warm-up
        methods = {"ours (Engine)": (ours_fn, repeats), "TransformerLens patching": (tl_fn, tl_repeats)}
        times: dict[str, list[float]] = {m: [] for m in methods}
        outs: dict[str, tuple] = {}
        for r in range(max(repeats, tl_repeats)):
            for name, (fn, n) in methods.items():
                if r >= n:
                    continue
                _sync(device)
                t0 = time.perf_counter()
                outs[name] = fn()
                _sync(device)
                times[name].append(time.perf_counter() - t0)
        reference, flops = outs["ours (Engine)"]
        t_ours = statistics.median(times["ours (Engine)"])
        ideal = flops / rate
        for name in methods:
            grid, own_flops = outs[name]
            t = statistics.median(times[name])
            forwards = own_flops / forward_flops if own_flops is not None else cells + 1
            row = {
                "sweep": sweep,
                "method": name,
                "cells": cells,
                "seconds": t,
                "runs": len(times[name]),
                "ratio": t / t_ours,
                "max_abs_diff": (grid - reference).abs().max().item(),
                "forwards": forwards,
                "efficiency": ideal / t,
                "note": note,
            }
            print(row, flush=True)
            rows.append(row)
    return rows


def fmt(value, column: str) -> str:
    if value is None:
        return "-"
    if column in ("seconds", "find_s", "evidence_s"):
        return f"{value:.3f}"
    if column in ("ratio", "efficiency"):
        return f"{value:.2f}"
    if column == "forwards":
        return f"{value:.1f}"
    if column == "max_abs_diff":
        return f"{value:.2e}"
    if column == "peak_rss_mb":
        return f"{value:.0f}"
    return str(value)


def print_table(rows: list[dict], columns: list[str], title: str) -> None:
    print(f"\n{title}\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in rows:
        print("| " + " | ".join(fmt(r.get(c), c) for c in columns) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer prompts per finder, smaller sweeps (QUICK_PROMPTS, QUICK_SWEEPS)",
    )
    parser.add_argument("--tables", default="heads,sweeps", help="comma-separated: heads, sweeps")
    parser.add_argument("--kinds", default=",".join(FINDERS), help="finders or head kinds (default all)")
    parser.add_argument("--n-prompts", type=int, help="induction prompts of the sweeps (default 4)")
    parser.add_argument("--positions", type=int, help="positions of the head x position sweep (default 3)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tl-repeats", type=int, help="TransformerLens runs per sweep (default --repeats)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="also write both tables as JSON to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    tables = {t.strip() for t in args.tables.split(",") if t.strip()}
    for name in ("n_prompts", "positions"):
        if getattr(args, name) is None:
            setattr(args, name, (QUICK_SWEEPS if args.quick else SWEEP_DEFAULTS)[name])
    if args.tl_repeats is None:
        args.tl_repeats = QUICK_SWEEPS["tl_repeats"] if args.quick else args.repeats
    started = time.perf_counter()
    t0 = time.perf_counter()
    model = interp.load_model(MODEL, device="cpu")
    load_s = time.perf_counter() - t0
    header = (
        f"{MODEL} ({model.n_layers} layers, {model.n_heads} heads, {model.n_kv_heads} KV heads, "
        f"d_model {model.d_model}), cpu, threads={torch.get_num_threads()}, torch={torch.__version__}, "
        f"load {load_s:.1f} s{', --quick' if args.quick else ''}"
    )
    print(header, flush=True)
    out: dict = {"header": header, "args": vars(args)}
    if "heads" in tables:
        names = [k.strip() for k in args.kinds.split(",") if k.strip()]
        out["heads"] = heads_table(model, names, args.quick)
    if "sweeps" in tables:
        out["sweeps"] = sweeps_table(model, args.n_prompts, args.positions, args.repeats, args.tl_repeats)
    print(f"\n{header}")
    if "heads" in out:
        print_table(
            out["heads"],
            HEADS_COLUMNS,
            "interp heads per finder (find_heads, then ablation_evidence on the heads found)",
        )
    if "sweeps" in out:
        print_table(
            out["sweeps"],
            SWEEP_COLUMNS,
            f"Patching sweeps, induction task, {args.n_prompts} prompts, logit difference, denoising "
            "(seconds: median of interleaved runs)",
        )
    out["total_s"] = time.perf_counter() - started
    print(f"\ntotal {out['total_s']:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
