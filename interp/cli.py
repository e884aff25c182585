"""The ``interp`` command line.

Subcommands:

- ``interp info MODEL``: the model's shape and head count (``--json`` for JSON).

Exit codes: 0 on success, 1 when the command fails on its input (an unknown
model, a bad file), 2 on a usage error. Errors are one line on stderr.
"""

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict

import torch

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="hub id, local directory, llama2c:PATH or zoo:NAME")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument("--dtype", default="float32", choices=sorted(DTYPES), help="weights dtype")


def _load(args: argparse.Namespace):
    from interp import load_model

    return load_model(args.model, device=args.device, dtype=DTYPES[args.dtype])


def cmd_info(args: argparse.Namespace) -> int:
    summary = _load(args).summary()
    if args.json:
        sys.stdout.write(json.dumps(asdict(summary) | {"n_heads_total": summary.n_heads_total}) + "\n")
        return 0
    rows = asdict(summary) | {"n_heads_total": summary.n_heads_total}
    width = max(map(len, rows))
    sys.stdout.write("".join(f"{key:<{width}}  {value}\n" for key, value in rows.items()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="interp", description="Find and test the attention heads of transformer language models."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="print a model's shape and head count")
    _add_model_options(info)
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.set_defaults(func=cmd_info)
    return parser


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
    args = build_parser().parse_args(argv)
    _quiet_libraries()
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, OSError, KeyError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        sys.stderr.write(f"interp {args.command}: error: {message}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
