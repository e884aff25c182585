"""What each ``interp`` subcommand does: build the task, call the method, write its results.

The parser, configuration and exit codes live in :mod:`circuits.cli.main`; this module
holds the commands themselves. Every command writes CSV and JSON into
``args.out`` and, with ``args.report``, a self-contained HTML report. Nothing
here computes what a method does not already return.
"""

import json
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from circuits.ablation import ablation_study
from circuits.activation_patching import activation_patching
from circuits.attention_sinks import act_study, find_sinks
from circuits.composition_scores import composition_scores
from circuits.evidence import (
    KEEP,
    TASK_OF_KIND,
    ablation_evidence,
    build_task,
    discover_scores,
    patching_circuits,
    task_metric,
)
from circuits.heads import KINDS, HeadScores, find_heads, head_name
from circuits.heads.induction import attention_patterns
from circuits.logit_attribution import task_logit_attribution
from circuits.model_card import model_card, write_card
from circuits.report import Report, attention_figure, provenance
from circuits.tasks.registry import TASK_NAMES
from circuits.zoo import train
from interp.files import commit_files
from interp.zoo import zoo_card, zoo_names

GENERIC_TASKS = TASK_NAMES
"""Task names every command's ``--task`` accepts."""

SWEEPS = {
    "heads": ("z", False),
    "heads-by-pos": ("z", True),
    "resid": ("resid_pre", True),
    "attn": ("attn_out", True),
    "mlp": ("mlp_out", True),
}
"""``interp patch --sweep`` choices: the activation site and whether to sweep positions."""


class Outputs:
    """A command's output files, held until the run is done and then written together.

    Each file is written whole (a temporary name, then a rename) and Ctrl-C is held back until
    the last one is in place, so an interrupted run leaves no new output or all of it.
    """

    def __init__(self, out: str | Path):
        self.out = Path(out)
        self.files: dict[Path, str] = {}

    def table(self, name: str, df: pd.DataFrame, payload: str | None = None) -> None:
        """``out/name.csv`` and ``out/name.json``."""
        self.files[self.out / f"{name}.csv"] = df.to_csv(index=False)
        self.files[self.out / f"{name}.json"] = (
            payload if payload is not None else df.to_json(orient="records")
        )

    def report(self, path: str | Path, report: Report) -> None:
        """The rendered report at ``path``."""
        self.files[Path(path)] = report.render()

    def commit(self) -> None:
        commit_files(self.files)


def say(text: str) -> None:
    sys.stdout.write(text.rstrip("\n") + "\n")


def digit_figure(df: pd.DataFrame, columns: list[str]) -> Any:
    """Heatmap of per-digit patching effects: one row per result digit, one column per head."""
    import plotly.express as px

    names = [head_name(int(layer), int(head)) for layer, head in zip(df["layer"], df["head"], strict=True)]
    grid = df[columns].to_numpy().T
    return px.imshow(
        grid,
        x=names,
        y=[c.removeprefix("patching_") for c in columns],
        color_continuous_scale="RdBu",
        color_continuous_midpoint=0,
        labels={"color": "share moved", "x": "head", "y": "result digit asked"},
        aspect="auto",
        title="Arithmetic heads: share of the answer's probability moved, per result digit",
    )


def heads_report(
    model: Any,
    scores: HeadScores,
    ablations: list[Any],
    *,
    seed: int,
    runtime_s: float,
    circuits: list[tuple[str, HeadScores]] = (),
) -> Report:
    """The head-ablation report: provenance, score heatmaps, top heads, ablations, patching circuits,
    attention patterns."""
    report = Report(f"Attention heads of {model.spec}")
    report.add_table("Model and provenance", provenance(model, seed=seed, runtime_s=runtime_s))
    report.add_figure(
        "Head scores",
        scores.heatmap(title=f"Head scores of {model.spec}, one panel per kind"),
        caption="Each kind's score per layer and head.",
    )
    explained = HeadScores(scores.df.assign(why_not=scores.why_not()))
    report.add_table(
        "Top heads",
        explained.top(5)
        .sort_values("kind", key=lambda k: k.map(scores.kinds.index), kind="stable")
        .loc[:, ["kind", "layer", "head", "score", "threshold", "is_head", "why_not"]],
        caption="The five highest-scoring heads of each kind, and why a high scorer is not a head.",
    )
    digits = scores.df[scores.df["kind"] == "arithmetic"].dropna(axis=1, how="all")
    digit_columns = [c for c in digits.columns if c.startswith("patching_digit")]
    if digit_columns:
        report.add_figure(
            "Arithmetic heads by result digit",
            digit_figure(digits, digit_columns),
            caption="Share of the answer's probability each head's output moves under counterfactual-operand "
            "patching, within the prompts asking each result digit (0: the leading digit).",
        )
    for result in ablations:
        kind = result.df["kind"].iloc[0]
        n_random = int(result.df["n_random"].iloc[0])
        control = (
            f"random head sets of the same size (mean over {n_random} draws; the bar spans the lowest to "
            "the highest draw)"
            if n_random
            else "no random control: the kind's heads outnumber the heads outside them"
        )
        report.add_figure(
            "Ablations with random-head controls",
            result.plot().update_layout(title=f"{kind}: task accuracy with its heads mean-ablated"),
            caption=f"Baseline, the kind's heads ablated together and each alone, and for the set {control}.",
        )
    if ablations:
        report.add_table("Ablation numbers", pd.concat([r.df for r in ablations], ignore_index=True))
    for task_name, circuit in circuits:
        heads = circuit.heads()
        names = ", ".join(head_name(layer, head) for layer, head in heads) or "(none)"
        report.add_figure(
            f"Activation patching: {task_name}",
            circuit.heatmap(
                title=f"Activation patching on {task_name}: logit difference restored per head",
                colorbar="share restored",
            ),
            caption="Share of the clean-vs-corrupted logit difference each head's output restores "
            f"(denoising). Discovered circuit (>= {circuit.df['threshold'].iloc[0]:.2f}): {names}.",
        )
    for kind in scores.kinds:
        if not scores.heads(kind):
            continue  # no head of this kind to show
        found = scores.of(kind).df
        top = found[found["is_head"]].sort_values("score", ascending=False, kind="stable").iloc[0]
        layer, head = int(top["layer"]), int(top["head"])
        try:
            task = build_task(model, TASK_OF_KIND.get(kind, "induction"), n_prompts=1, seed=seed + 2)
        except ValueError:
            continue
        tokens = task.clean_tokens[:1, : int(task.positions[0]) + 1]
        pattern = attention_patterns(model, tokens)[0, layer, head]
        report.add_figure(
            "Attention patterns of the top heads",
            attention_figure(
                pattern,
                model.to_str_tokens(tokens),
                f"{kind}: attention of {head_name(layer, head)}, its top head",
            ),
        )
    return report


def heads_table(scores: HeadScores, top: int) -> str:
    """The ``top`` highest-scoring heads of each kind, one block per kind, with why a head is not one."""
    blocks = []
    table = scores.df.assign(head_name=[head_name(int(r.layer), int(r.head)) for r in scores.df.itertuples()])
    table["why_not"] = scores.why_not()
    for kind in scores.kinds:
        rows = table[table["kind"] == kind].sort_values("score", ascending=False, kind="stable").head(top)
        threshold = float(rows["threshold"].iloc[0])
        explain = rows["why_not"].astype(bool).any()
        lines = ["head    score  is_head" + ("  why_not" if explain else "")]
        for row in rows.itertuples():
            line = f"{row.head_name:<6} {row.score:6.3f}  {'yes' if row.is_head else 'no':<7}"
            lines.append((line + f"  {row.why_not}" if explain else line).rstrip())
        blocks.append(
            f"{kind} (head when score > {threshold:g}):\n" + "\n".join(f"  {line}" for line in lines)
        )
    return "\n\n".join(blocks)


def cmd_heads(args: Any, model: Any) -> int:
    start = time.perf_counter()
    explicit = args.kinds is not None
    kinds = list(args.kinds) if explicit else list(KINDS)
    outputs = Outputs(args.out)
    scores = find_heads(model, kinds, seed=args.seed, skip_unsupported=not explicit)
    for kind, reason in scores.skipped.items():
        say(f"skipped {kind}: {reason.splitlines()[0][:300]}")
    outputs.table("heads", scores.df, scores.to_json())
    sys.stderr.flush()
    say(heads_table(scores, args.top))
    say("\nheads found:")
    for kind in scores.kinds:
        say(f"  {kind:>15}: {', '.join(head_name(*h) for h in scores.heads(kind)) or 'none'}")
    if args.report:
        ablations = ablation_evidence(model, scores, seed=args.seed)
        if ablations:
            say("\nmean ablation (task accuracy):")
        for result in ablations:
            row = result.df.iloc[0]
            outside = model.n_layers * model.n_heads - row["n_heads"]
            draws = result.random_values[row["heads"]]
            control = (
                f"{row['random_mean']:.2f} with random heads ({min(draws):.2f} to {max(draws):.2f} "
                f"over {len(draws)} draws)"
                if row["n_random"]
                else f"no random control: {outside} heads are outside the {row['n_heads']}"
            )
            say(
                f"  {row['kind']:>15}: {row['baseline']:.2f} -> {row['ablated']:.2f} with its heads ablated, "
                + control
            )
            alone = result.df.iloc[1:]
            for role in ("needed alone", "backup or redundant"):
                rows = alone[alone["role"] == role]
                named = [f"{h} {a:.2f}" for h, a in zip(rows["heads"], rows["ablated"], strict=True)]
                if named:
                    say(f"  {'':>15}  {role} (accuracy with it ablated alone): {', '.join(named)}")
            outputs.table(f"ablation_{row['kind']}", result.df, result.to_json())
        circuits = patching_circuits(model, scores, seed=args.seed)
        if circuits:
            say(f"\nactivation patching circuits (heads restoring >= {KEEP:.0%} of the largest effect):")
        for task_name, circuit in circuits:
            say(f"  {task_name:>15}: {', '.join(head_name(*h) for h in circuit.heads()) or 'none'}")
        report = heads_report(
            model,
            scores,
            ablations,
            seed=args.seed,
            runtime_s=time.perf_counter() - start,
            circuits=circuits,
        )
        outputs.report(args.report, report)
    return finish(outputs, args)


def finish(outputs: Outputs, args: Any) -> int:
    """Write every output of the run at once and say where they went."""
    outputs.commit()
    if getattr(args, "report", None):
        say(f"report: {args.report}")
    return 0


def cmd_patch(args: Any, model: Any) -> int:
    outputs = Outputs(args.out)
    start = time.perf_counter()
    task = build_task(model, args.task, n_prompts=args.n_prompts, seed=args.seed)
    site, per_position = SWEEPS[args.sweep]
    result = activation_patching(
        model,
        task.clean_tokens,
        task.corrupted_tokens,
        task_metric(task),
        site=site,
        per_position=per_position,
        direction=args.direction,
    )
    outputs.table(f"patch_{args.sweep}", result.df, result.to_json())
    say(result.top(args.top).to_string(index=False))
    if args.report:
        report = Report(f"Activation patching of {model.spec} on {args.task}")
        report.add_table(
            "Model and provenance", provenance(model, seed=args.seed, runtime_s=time.perf_counter() - start)
        )
        report.add_figure(
            f"Patching: {args.sweep}", result.plot(), caption=f"{args.direction}, logit difference"
        )
        report.add_table("Top cells", result.top(args.top))
        outputs.report(args.report, report)
    return finish(outputs, args)


def cmd_discover(args: Any, model: Any) -> int:
    outputs = Outputs(args.out)
    start = time.perf_counter()
    task = build_task(model, args.task, n_prompts=args.n_prompts, seed=args.seed)
    scores = discover_scores(model, task, args.method)
    threshold = float(scores.max()) * args.keep
    circuit = HeadScores.from_grid(f"circuit_{args.task}", scores, threshold)
    outputs.table(f"discover_{args.method}_{args.task}", circuit.df, circuit.to_json())
    heads = circuit.heads()
    names = ", ".join(head_name(layer, head) for layer, head in heads) or "(none)"
    say(f"{args.method} circuit for {args.task}: {names}")
    if args.report:
        report = Report(f"Circuit of {model.spec} for {args.task} ({args.method})")
        report.add_table(
            "Model and provenance", provenance(model, seed=args.seed, runtime_s=time.perf_counter() - start)
        )
        report.add_figure(
            "Head importance",
            circuit.heatmap(
                title=f"{args.method} importance of each head for {args.task}", colorbar="importance"
            ),
            caption=f"{args.method}; kept: >= {args.keep:.0%} of max",
        )
        report.add_table("Discovered circuit", circuit.top(len(heads) or 5))
        outputs.report(args.report, report)
    return finish(outputs, args)


def cmd_ablate(args: Any, model: Any, heads: list[tuple[int, int]]) -> int:
    outputs = Outputs(args.out)
    task = build_task(model, args.task, n_prompts=args.n_prompts, seed=args.seed)
    result = ablation_study(
        model,
        heads,
        task.clean_tokens,
        getattr(task, args.metric),
        mode=args.mode,
        n_random=args.n_random,
        seed=args.seed,
    )
    outputs.table("ablation", result.df, result.to_json())
    say(result.df.to_string(index=False))
    if args.report:
        report = Report(f"Ablation of {result.df['heads'].iloc[0]} in {model.spec}")
        report.add_table("Model and provenance", provenance(model, seed=args.seed))
        report.add_figure("Ablation with random-head controls", result.plot())
        report.add_table("Numbers", result.df)
        outputs.report(args.report, report)
    return finish(outputs, args)


def cmd_dla(args: Any, model: Any) -> int:
    outputs = Outputs(args.out)
    task = build_task(model, args.task, n_prompts=args.n_prompts, seed=args.seed)
    result = task_logit_attribution(model, task, args.granularity)
    outputs.table(f"dla_{args.task}", result.df, result.to_json())
    say(result.top(args.top).to_string(index=False))
    if args.report:
        report = Report(f"Direct logit attribution of {model.spec} on {args.task}")
        report.add_table("Model and provenance", provenance(model, seed=args.seed))
        report.add_figure("Direct logit attribution", result.plot())
        outputs.report(args.report, report)
    return finish(outputs, args)


def cmd_compose(args: Any, model: Any) -> int:
    outputs = Outputs(args.out)
    modes = tuple(m.strip().upper() for m in args.modes.split(",") if m.strip())
    result = composition_scores(model, modes, fold_norm=args.fold_norm)
    outputs.table("composition", result.df, result.to_json())
    say(result.top(args.top).to_string(index=False))
    if args.report:
        report = Report(f"Composition scores of {model.spec}")
        for mode in modes:
            report.add_figure(f"{mode}-composition", result.plot(mode))
        outputs.report(args.report, report)
    return finish(outputs, args)


def cmd_sinks(args: Any, model: Any) -> int:
    outputs = Outputs(args.out)
    task = build_task(model, args.task, n_prompts=args.n_prompts, seed=args.seed)
    sinks = find_sinks(model, task.clean_tokens)
    summary = sinks.summary()
    outputs.table(f"sinks_{args.task}", summary, sinks.to_json())
    later = summary.nlargest(args.top, "later_sinks")
    say(f"first token: mean sink score {summary['first_score'].mean():.3f} over {len(summary)} heads")
    say(later[["label", "later_sinks", "later_score"]].to_string(index=False))
    result = None
    if args.act:
        # Heads are chosen on the task's prompts and ACT is scored on fresh ones (seed + 1).
        heldout = build_task(model, args.task, n_prompts=args.n_prompts, seed=args.seed + 1)
        result = act_study(model, task, heldout, n_random=args.n_random, seed=args.seed)
        outputs.table(f"act_{args.task}", result.df, result.to_json())
        say(result.df.to_string(index=False))
    if args.report:
        report = Report(f"Attention sinks of {model.spec} on {args.task}")
        report.add_table("Model and provenance", provenance(model, seed=args.seed))
        report.add_figure("Sinks after the first token", sinks.plot())
        if result is not None:
            report.add_table("ACT on held-out prompts", result.df)
        outputs.report(args.report, report)
    return finish(outputs, args)


def cmd_card(args: Any, model: Any) -> int:
    card = model_card(model, tasks=args.tasks, n_prompts=args.n_prompts, seed=args.seed)
    json_path, md_path = write_card(card, args.out_dir)
    for e in card["evidence"]:
        heads = ", ".join(f"{label} ({role})" for label, role in e["heads"].items()) or "(none)"
        say(f"{e['task']}: accuracy {e['baseline']['accuracy']:.3f}; heads: {heads}")
    for name, why in card["skipped"].items():
        say(f"{name}: skipped ({why})")
    say(f"wrote {json_path} and {md_path}")
    return 0


def cmd_zoo(args: Any) -> int:
    if args.action == "list":
        rows = []
        for name in zoo_names():
            card = zoo_card(name)
            accuracy = json.dumps(card.get("accuracy", {}))
            rows.append({"name": name, "description": card.get("description", ""), "accuracy": accuracy})
        say(pd.DataFrame(rows).to_string(index=False) if rows else "(no zoo models)")
        return 0
    path = train(args.name, out_dir=args.out_dir, steps=args.steps)
    say(f"trained {args.name}: {path}")
    return 0
