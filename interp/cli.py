"""The ``interp`` command line.

Subcommands:

- ``interp info MODEL``: the model's shape and head count;
- ``interp heads MODEL [--kinds ...]``: score every head of each kind (the report adds
  ablations with random-head controls and attention patterns);
- ``interp patch MODEL --task T --sweep {heads,heads-by-pos,resid,attn,mlp}``: activation patching;
- ``interp discover MODEL --task T --method {patching,eap,eap-ig,sae}``: find a task's circuit;
- ``interp ablate MODEL --heads L5H1,L6H9 --task T``: ablate heads against random controls;
- ``interp dla MODEL --task T``: direct logit attribution;
- ``interp compose MODEL``: Q/K/V composition scores between heads;
- ``interp zoo list`` / ``interp zoo train NAME``: the model zoo.

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
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

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


def cmd_info(args: argparse.Namespace) -> int:
    summary = _load(args).summary()
    rows = asdict(summary) | {"n_heads_total": summary.n_heads_total}
    if args.json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return 0
    width = max(map(len, rows))
    sys.stdout.write("".join(f"{key:<{width}}  {value}\n" for key, value in rows.items()))
    return 0


def _run(command: str):
    """A parser default that loads the model and calls ``circuits.commands.cmd_<command>``."""

    def run(args: argparse.Namespace) -> int:
        from circuits import commands

        heads = parse_heads(args.heads) if command == "ablate" else None
        model = _load(args)
        handler = getattr(commands, f"cmd_{command}")
        return handler(args, model, heads) if heads is not None else handler(args, model)

    return run


def _zoo(args: argparse.Namespace) -> int:
    from circuits.commands import cmd_zoo

    return cmd_zoo(args)


def _add_task_options(parser: argparse.ArgumentParser) -> None:
    from circuits.commands import GENERIC_TASKS

    parser.add_argument("--task", required=True, help=f"one of {', '.join(GENERIC_TASKS)}")
    parser.add_argument("--n-prompts", type=int, default=32, help="prompts sampled for the task")


def build_parser() -> argparse.ArgumentParser:
    from circuits.commands import DISCOVERY_METHODS, SWEEPS
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
    heads.add_argument(
        "--kinds",
        default=None,
        help=f"comma-separated, from {','.join(KINDS)} (default: all the model supports)",
    )
    heads.add_argument("--top", type=int, default=5, help="heads per kind to print")
    heads.set_defaults(func=_run("heads"))

    patch = sub.add_parser("patch", help="activation patching sweep on a task")
    _add_model_options(patch)
    _add_output_options(patch, "patch")
    _add_task_options(patch)
    patch.add_argument("--sweep", default="heads", choices=list(SWEEPS), help="what to patch")
    patch.add_argument("--direction", default="denoising", choices=["denoising", "noising"])
    patch.add_argument("--top", type=int, default=10, help="cells to print")
    patch.set_defaults(func=_run("patch"))

    discover = sub.add_parser("discover", help="find the heads a task's circuit uses")
    _add_model_options(discover)
    _add_output_options(discover, "discover")
    _add_task_options(discover)
    discover.add_argument("--method", default="patching", choices=list(DISCOVERY_METHODS))
    discover.add_argument(
        "--keep", type=float, default=0.2, help="keep heads scoring >= this share of the max"
    )
    discover.set_defaults(func=_run("discover"))

    ablate = sub.add_parser("ablate", help="ablate heads on a task, against random heads")
    _add_model_options(ablate)
    _add_output_options(ablate, "ablate")
    _add_task_options(ablate)
    ablate.add_argument("--heads", required=True, help="heads to ablate, like L5H1,L6H9")
    ablate.add_argument("--mode", default="mean", choices=["zero", "mean", "resample", "masking"])
    ablate.add_argument("--metric", default="accuracy", choices=["accuracy", "logit_diff", "answer_prob"])
    ablate.add_argument("--n-random", type=int, default=5, help="random head sets for the control")
    ablate.set_defaults(func=_run("ablate"))

    dla = sub.add_parser("dla", help="direct logit attribution on a task")
    _add_model_options(dla)
    _add_output_options(dla, "dla")
    _add_task_options(dla)
    dla.add_argument("--granularity", default="head", choices=["layer", "head", "neuron", "source_position"])
    dla.add_argument("--top", type=int, default=15, help="components to print")
    dla.set_defaults(func=_run("dla"))

    compose = sub.add_parser("compose", help="Q/K/V composition scores between heads")
    _add_model_options(compose)
    _add_output_options(compose, "compose")
    compose.add_argument("--modes", default="Q,K,V", help="comma-separated, from Q,K,V")
    compose.add_argument(
        "--fold-norm", action="store_true", help="fold LayerNorm weights first, as TransformerLens"
    )
    compose.add_argument("--top", type=int, default=10, help="pairs to print")
    compose.set_defaults(func=_run("compose"))

    zoo = sub.add_parser("zoo", help="list the zoo or retrain one of its models")
    zoo.add_argument("action", choices=["list", "train"])
    zoo.add_argument("name", nargs="?", default=None, help="the zoo model to train")
    zoo.add_argument("--steps", type=int, default=None, help="override the recipe's training steps")
    zoo.add_argument("--out-dir", default=None, help="where to write the checkpoint (default: data/zoo/NAME)")
    zoo.add_argument("--config", default=None, help="TOML file with the same options (flags win)")
    zoo.set_defaults(func=_zoo)
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
