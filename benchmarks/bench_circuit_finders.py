"""Benchmark: circuit finders side by side on the zoo organism's tasks.

For each task of the organism (ground truth: the card's heads for that task) and each
finder (the SAE circuit finder of O'Neill & Bui, exhaustive activation patching of head
outputs, EAP, EAP-IG), prints node ROC AUC, the faithfulness of the top heads (as many as
the ground truth has; mean ablation of every other head), the ground truth's own
faithfulness, MIB's CPR and CMD over every circuit size, and the finder's runtime.

Skips with a message when the zoo organism or the task library is absent; finders whose
implementation is missing appear with their error.

Usage:
    python benchmarks/bench_circuit_finders.py [--zoo organism] [--prompts 32] [--threads 1]
        [--finders sae,activation_patching,eap,eap_ig] [--ground-truth roles|task_heads]
        [--no-curve] [--json out.json]
"""

import argparse
import sys

import pandas as pd
import torch

from circuits.circuit_tasks import zoo_circuit_tasks
from circuits.evaluation import FINDERS, FinderUnavailable, compare_finders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zoo", default="organism", help="zoo model whose tasks and card to use")
    parser.add_argument("--prompts", type=int, default=32, help="prompts per task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--finders", default=",".join(FINDERS), help="comma-separated finder names")
    parser.add_argument(
        "--ground-truth",
        default="roles",
        choices=["roles", "task_heads"],
        help="card heads by role named after the task, or the card's task_heads (single-head ablation)",
    )
    parser.add_argument("--no-curve", action="store_true", help="skip the CPR/CMD sweep over circuit sizes")
    parser.add_argument("--json", help="also write the comparison as JSON to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        model, tasks = zoo_circuit_tasks(
            args.zoo, n_prompts=args.prompts, seed=args.seed, ground_truth=args.ground_truth
        )
    except FinderUnavailable as err:
        print(f"skipped: {err}")
        return 0
    if not tasks:
        print(f"skipped: the card of {args.zoo!r} names no heads for any of its tasks")
        return 0
    finders = [name.strip() for name in args.finders.split(",") if name.strip()]
    result = compare_finders(model, tasks, finders, curve=not args.no_curve)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 3):
        print(
            f"zoo:{args.zoo}, {args.prompts} prompts per task, ground truth {args.ground_truth}, "
            f"{torch.get_num_threads()} thread(s)\n"
        )
        print(result.df.drop(columns=["error"]).to_string(index=False))
        errors = result.df[result.df["error"] != ""]
        for _, row in errors.iterrows():
            print(f"\n{row['finder']} on {row['task']}: {row['error']}")
        print("\nmean over tasks:")
        columns = ["auc", "faithfulness", "cpr", "cmd", "runtime_s"]
        print(result.df.groupby("finder", sort=False)[columns].mean())
    if args.json:
        with open(args.json, "w") as f:
            f.write(result.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
