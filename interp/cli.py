"""The ``interp`` command line.

Subcommands:

- ``interp info MODEL``: the model's shape and head count;
- ``interp heads MODEL [--kinds ...]``: score every head of each kind.

Every command that computes something writes CSV and JSON into ``--out``
(default ``out/<command>``), and with ``--report PATH`` a self-contained HTML
report. ``--config FILE`` reads the same options from a TOML file (command
line flags win). Exit codes: 0 on success, 1 when the command fails on its
input (an unknown model, a bad file), 2 on a usage error (a malformed option,
an unknown config key). Errors are one line on stderr.
"""

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class UsageError(ValueError):
    """A bad option or config key: exit code 2."""


def parse_heads(text: str) -> list[tuple[int, int]]:
    """``"L5H1,L6H9" -> [(5, 1), (6, 9)]``; anything else is a usage error naming the bad item."""
    import re

    heads = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        match = re.fullmatch(r"[Ll](\d+)[Hh](\d+)", item)
        if not match:
            raise UsageError(f"malformed head {item!r} in {text!r}; expected a list like L5H1,L6H9")
        heads.append((int(match.group(1)), int(match.group(2))))
    if not heads:
        raise UsageError(f"no heads in {text!r}; expected a list like L5H1,L6H9")
    return heads


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="hub id, local directory, llama2c:PATH or zoo:NAME")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument("--dtype", default="float32", choices=sorted(DTYPES), help="weights dtype")
    parser.add_argument("--config", default=None, help="TOML file with the same options (flags win)")


def _add_output_options(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--out", default=f"out/{command}", help="folder for the CSV and JSON results")
    parser.add_argument("--report", default=None, help="also write a self-contained HTML report here")
    parser.add_argument("--seed", type=int, default=0, help="seeds every random choice")


def _load(args: argparse.Namespace):
    from interp import load_model

    torch.manual_seed(args.seed if hasattr(args, "seed") else 0)
    return load_model(args.model, device=args.device, dtype=DTYPES[args.dtype])


def _write_table(out: Path, name: str, df: Any, payload: str | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / f"{name}.csv", index=False)
    (out / f"{name}.json").write_text(payload if payload is not None else df.to_json(orient="records"))


def cmd_info(args: argparse.Namespace) -> int:
    summary = _load(args).summary()
    rows = asdict(summary) | {"n_heads_total": summary.n_heads_total}
    if args.json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return 0
    width = max(map(len, rows))
    sys.stdout.write("".join(f"{key:<{width}}  {value}\n" for key, value in rows.items()))
    return 0


def cmd_heads(args: argparse.Namespace) -> int:
    from circuits.heads import find_heads

    start = time.perf_counter()
    model = _load(args)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    scores = find_heads(model, kinds, seed=args.seed)
    out = Path(args.out)
    _write_table(out, "heads", scores.df, scores.to_json())
    top = scores.top(args.top)
    sys.stdout.write(top[["kind", "layer", "head", "score", "is_head"]].to_string(index=False) + "\n")
    if args.report:
        from circuits.report import Report, provenance

        report = Report(f"Heads of {args.model}")
        runtime = time.perf_counter() - start
        report.add_table("Model and provenance", provenance(model, seed=args.seed, runtime_s=runtime))
        report.add_figure("Head scores", scores.heatmap(), caption="Each kind's score per layer and head.")
        report.add_table("Top heads", top)
        report.write(args.report)
        sys.stdout.write(f"report: {args.report}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from circuits.heads import KINDS

    parser = argparse.ArgumentParser(
        prog="interp", description="Find and test the attention heads of transformer language models."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="print a model's shape and head count")
    _add_model_options(info)
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.set_defaults(func=cmd_info)

    heads = sub.add_parser("heads", help="score every head of each kind")
    _add_model_options(heads)
    _add_output_options(heads, "heads")
    heads.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, from {','.join(KINDS)}")
    heads.add_argument("--top", type=int, default=5, help="heads per kind to print")
    heads.set_defaults(func=cmd_heads)
    return parser


def _apply_config(
    parser: argparse.ArgumentParser, args: argparse.Namespace, argv: Sequence[str]
) -> argparse.Namespace:
    """Re-parse with the TOML config's values as defaults, so command-line flags win."""
    if not getattr(args, "config", None):
        return args
    path = Path(args.config)
    if not path.is_file():
        raise UsageError(f"config file {str(path)!r} does not exist")
    try:
        config = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"config file {str(path)!r} is not valid TOML: {err}") from err
    subparser = parser._subparsers._group_actions[0].choices[args.command]  # noqa: SLF001
    known = {a.dest for a in subparser._actions if a.dest not in ("help", "config", "model")}  # noqa: SLF001
    config = {k.replace("-", "_"): v for k, v in config.items()}
    unknown = sorted(set(config) - known)
    if unknown:
        raise UsageError(
            f"unknown config key(s) {unknown} for 'interp {args.command}'; expected some of {sorted(known)}"
        )
    subparser.set_defaults(**config)
    return parser.parse_args(argv)


def _quiet_libraries() -> None:
    """Keep the terminal for results: no weight-loading progress bars or advisory warnings."""
    import warnings

    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    _quiet_libraries()
    try:
        args = _apply_config(parser, args, argv)
        return args.func(args)
    except UsageError as err:
        sys.stderr.write(f"interp {args.command}: error: {err}\n")
        return 2
    except (ValueError, FileNotFoundError, OSError, KeyError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        sys.stderr.write(f"interp {args.command}: error: {message}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
