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
line flags win). Output paths are checked before any work, and every output
file is written whole (a temporary name, then a rename) once the run is done.

Exit codes (:data:`EXIT_CODES`): 0 on success; 2 on bad input (a model spec
that cannot be loaded, an unknown task or head kind, a head the model lacks,
an option value out of range, a bad config file or output path); 1 when a
method fails on the model (a task its tokenizer cannot express, a task it
cannot solve); 130 on Ctrl-C. Every error is one line on stderr.
"""

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from circuits.cli import commands
from circuits.cli.console import interrupts_watched
from circuits.evidence import DISCOVERY_METHODS
from circuits.heads import KINDS
from circuits.heads.scores import parse_head_name
from circuits.model_card import CARD_TASKS
from circuits.zoo import RECIPES
from interp import load_model
from interp.checks import DTYPE_NAMES, resolve_device
from interp.files import check_writable

EXIT_CODES = {"ok": 0, "method failed": 1, "bad input": 2, "interrupted": 130}
"""What each exit code of ``interp`` means."""

EPILOG = (
    "exit codes: 0 success; 1 a method failed on the model; 2 bad input (model spec, task, kind, "
    "head, option value, config file, output path); 130 interrupted (Ctrl-C)"
)


class UsageError(ValueError):
    """Bad input: an option value, config key, model spec, task, kind or head. Exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line and exit 2, as every other bad input."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parse_heads(text: str) -> list[tuple[int, int]]:
    """``"L5H1,L6H9" -> [(5, 1), (6, 9)]``; anything else is a usage error naming the bad item."""
    heads = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            heads.append(parse_head_name(item))
        except ValueError:
            raise UsageError(f"malformed head {item!r} in {text!r}; expected a list like L5H1,L6H9") from None
    if not heads:
        raise UsageError(f"no heads in {text!r}; expected a list like L5H1,L6H9")
    return heads


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="hub id, local directory, llama2c:PATH or zoo:NAME")
    parser.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:1, mps (default: cuda if available, else cpu)"
    )
    parser.add_argument("--dtype", default="float32", choices=sorted(DTYPE_NAMES), help="weights dtype")
    parser.add_argument("--config", default=None, help="TOML file with the same options (flags win)")


def _add_output_options(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--out", default=f"out/{command}", help="folder for the CSV and JSON results")
    parser.add_argument("--report", default=None, help="also write a self-contained HTML report here")
    parser.add_argument("--seed", type=int, default=0, help="seeds every random choice")


def _load(args: argparse.Namespace):
    """The model ``args.model`` names; any failure to load it is bad input (exit 2)."""
    torch.manual_seed(args.seed if hasattr(args, "seed") else 0)
    try:
        return load_model(args.model, device=args.device, dtype=args.dtype)
    except Exception as err:  # noqa: BLE001 - every way a spec fails to load is the user's to fix
        raise UsageError(f"cannot load model {args.model!r}: {_first_line(err)}") from err


def cmd_info(args: argparse.Namespace) -> int:
    summary = _load(args).summary()
    rows = asdict(summary) | {"n_heads_total": summary.n_heads_total}
    if args.json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return 0
    width = max(map(len, rows))
    sys.stdout.write("".join(f"{key:<{width}}  {value}\n" for key, value in rows.items()))
    return 0


def parse_kinds(text: str | None) -> list[str] | None:
    """``"induction,successor" -> ["induction", "successor"]``; an unknown kind is a usage error."""
    if text is None:
        return None
    kinds = [k.strip() for k in str(text).split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise UsageError(f"unknown head kind(s) {unknown or [text]}; expected some of {', '.join(KINDS)}")
    return kinds


def parse_card_tasks(text: str) -> list[str]:
    """``"induction,ioi" -> ["induction", "ioi"]``; an unknown task is a usage error."""
    tasks = [t.strip() for t in str(text).split(",") if t.strip()]
    unknown = [t for t in tasks if t not in CARD_TASKS]
    if unknown or not tasks:
        raise UsageError(
            f"unknown card task(s) {unknown or [text]}; expected some of {', '.join(CARD_TASKS)}"
        )
    return tasks


def _run(command: str):
    """A parser default that checks the inputs, loads the model and calls ``commands.cmd_<command>``.

    Everything a user typed is checked before the model loads or any sweep starts (exit 2 when
    bad); only what the method itself raises afterwards exits 1.
    """

    def run(args: argparse.Namespace) -> int:
        heads = parse_heads(args.heads) if command == "ablate" else None
        if command == "heads":
            args.kinds = parse_kinds(args.kinds)
        if command == "card":
            args.tasks = parse_card_tasks(args.tasks)
            _check_output_paths(argparse.Namespace(out=args.out_dir))
        _check_output_paths(args)
        model = _load(args)
        for layer, head in heads or []:
            try:
                model.check_head(layer, head)
            except ValueError as err:
                raise UsageError(f"the model has no head L{layer}H{head}: {err}") from err
        handler = getattr(commands, f"cmd_{command}")
        return handler(args, model, heads) if heads is not None else handler(args, model)

    return run


def _check_output_paths(args: argparse.Namespace) -> None:
    try:
        if getattr(args, "out", None) is not None:
            check_writable(args.out, folder=True)
        if getattr(args, "report", None) is not None:
            check_writable(args.report, folder=False)
    except ValueError as err:
        raise UsageError(str(err)) from err


def _zoo(args: argparse.Namespace) -> int:
    if args.action == "train":
        if not args.name:
            raise UsageError("interp zoo train needs a model name, e.g. interp zoo train induction-2l")
        if args.name not in RECIPES:
            raise UsageError(
                f"unknown zoo recipe {args.name!r}; expected one of {', '.join(sorted(RECIPES))}"
            )
        if args.out_dir is not None:
            _check_output_paths(argparse.Namespace(out=args.out_dir))
    return commands.cmd_zoo(args)


def _add_task_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--task", required=True, choices=list(commands.GENERIC_TASKS), help="the task to run on"
    )
    parser.add_argument("--n-prompts", type=int, default=32, help="prompts sampled for the task")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="interp",
        description="Find and test the attention heads of transformer language models.",
        epilog=EPILOG,
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    info = sub.add_parser("info", help="print a model's shape and head count", epilog=EPILOG)
    _add_model_options(info)
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.set_defaults(func=cmd_info)

    heads = sub.add_parser("heads", help="score every head of each kind", epilog=EPILOG)
    _add_model_options(heads)
    _add_output_options(heads, "heads")
    heads.add_argument(
        "--kinds",
        default=None,
        help=f"comma-separated, from {','.join(KINDS)} (default: all the model supports)",
    )
    heads.add_argument("--top", type=int, default=5, help="heads per kind to print")
    heads.set_defaults(func=_run("heads"))

    patch = sub.add_parser("patch", help="activation patching sweep on a task", epilog=EPILOG)
    _add_model_options(patch)
    _add_output_options(patch, "patch")
    _add_task_options(patch)
    patch.add_argument("--sweep", default="heads", choices=list(commands.SWEEPS), help="what to patch")
    patch.add_argument("--direction", default="denoising", choices=["denoising", "noising"])
    patch.add_argument("--top", type=int, default=10, help="cells to print")
    patch.set_defaults(func=_run("patch"))

    discover = sub.add_parser("discover", help="find the heads a task's circuit uses", epilog=EPILOG)
    _add_model_options(discover)
    _add_output_options(discover, "discover")
    _add_task_options(discover)
    discover.add_argument("--method", default="patching", choices=list(DISCOVERY_METHODS))
    discover.add_argument(
        "--keep", type=float, default=0.2, help="keep heads scoring >= this share of the max"
    )
    discover.set_defaults(func=_run("discover"))

    ablate = sub.add_parser("ablate", help="ablate heads on a task, against random heads", epilog=EPILOG)
    _add_model_options(ablate)
    _add_output_options(ablate, "ablate")
    _add_task_options(ablate)
    ablate.add_argument("--heads", required=True, help="heads to ablate, like L5H1,L6H9")
    ablate.add_argument("--mode", default="mean", choices=["zero", "mean", "resample", "masking"])
    ablate.add_argument("--metric", default="accuracy", choices=["accuracy", "logit_diff", "answer_prob"])
    ablate.add_argument("--n-random", type=int, default=5, help="random head sets for the control")
    ablate.set_defaults(func=_run("ablate"))

    dla = sub.add_parser("dla", help="direct logit attribution on a task", epilog=EPILOG)
    _add_model_options(dla)
    _add_output_options(dla, "dla")
    _add_task_options(dla)
    dla.add_argument("--granularity", default="head", choices=["layer", "head", "neuron", "source_position"])
    dla.add_argument("--top", type=int, default=15, help="components to print")
    dla.set_defaults(func=_run("dla"))

    compose = sub.add_parser("compose", help="Q/K/V composition scores between heads", epilog=EPILOG)
    _add_model_options(compose)
    _add_output_options(compose, "compose")
    compose.add_argument("--modes", default="Q,K,V", help="comma-separated, from Q,K,V")
    compose.add_argument(
        "--fold-norm", action="store_true", help="fold LayerNorm weights first, as TransformerLens"
    )
    compose.add_argument("--top", type=int, default=10, help="pairs to print")
    compose.set_defaults(func=_run("compose"))

    sinks = sub.add_parser(
        "sinks", help="attention sinks of every head on a task, and ACT's calibration", epilog=EPILOG
    )
    _add_model_options(sinks)
    _add_output_options(sinks, "sinks")
    _add_task_options(sinks)
    sinks.add_argument("--top", type=int, default=10, help="heads to print")
    sinks.add_argument(
        "--act", action="store_true", help="select heads for ACT and score it on held-out prompts"
    )
    sinks.add_argument("--n-random", type=int, default=3, help="random head sets for ACT's control")
    sinks.set_defaults(func=_run("sinks"))

    card = sub.add_parser(
        "card", help="verify each task's heads by ablation and write card.json and card.md", epilog=EPILOG
    )
    _add_model_options(card)
    card.add_argument("--out-dir", required=True, help="folder for card.json and card.md")
    card.add_argument(
        "--tasks",
        default=",".join(CARD_TASKS),
        help=f"comma-separated, from {','.join(CARD_TASKS)} (default: all)",
    )
    card.add_argument("--n-prompts", type=int, default=32, help="prompts per task (long ones fewer)")
    card.add_argument("--seed", type=int, default=1234, help="task k's prompts use seed + 1000 * k")
    card.set_defaults(func=_run("card"))

    zoo = sub.add_parser("zoo", help="list the zoo or retrain one of its models", epilog=EPILOG)
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
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"config file {str(path)!r} is not valid TOML: {_first_line(err)}") from err
    subparser = parser._subparsers._group_actions[0].choices[args.command]  # noqa: SLF001
    actions = {a.dest: a for a in subparser._actions if a.dest not in ("help", "config", "model")}  # noqa: SLF001
    config = {k.replace("-", "_"): v for k, v in config.items()}
    unknown = sorted(set(config) - set(actions))
    if unknown:
        raise UsageError(
            f"unknown config key(s) {unknown} for 'interp {args.command}'; expected some of {sorted(actions)}"
        )
    for key, value in config.items():
        choices = actions[key].choices
        if choices is not None and value not in choices:
            raise UsageError(
                f"config key {key!r} is {value!r} in {str(path)!r}; "
                f"expected one of {', '.join(map(str, choices))}"
            )
    subparser.set_defaults(**config)
    return parser.parse_args(argv)


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


OPTION_RULES = {
    "n_prompts": (_positive_int, "a positive integer"),
    "top": (_positive_int, "a positive integer"),
    "n_random": (_positive_int, "a positive integer (random head sets for the control)"),
    "steps": (_positive_int, "a positive integer"),
    "seed": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**32,
        "an integer in [0, 2**32)",
    ),
    "keep": (
        lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 < v <= 1,
        "a share in (0, 1]",
    ),
}
"""Options whose value has a range, what each must be; checked after flags and config are merged."""


def _check_options(args: argparse.Namespace) -> None:
    """Every option value in range (config values skip argparse's conversions, so check them here)."""
    for name, (ok, expected) in OPTION_RULES.items():
        value = getattr(args, name, None)
        if value is not None and not ok(value):
            raise UsageError(f"--{name.replace('_', '-')} must be {expected}; got {value!r}")
    if getattr(args, "device", None) is not None:
        try:
            args.device = resolve_device(args.device)
        except (TypeError, ValueError) as err:
            raise UsageError(f"--device: {err}") from err


def _first_line(err: BaseException) -> str:
    text = str(err).strip().strip("'\"")
    return text.splitlines()[0] if text else type(err).__name__


def _quiet_libraries() -> None:
    """Keep the terminal for results: no weight-loading progress bars or advisory warnings."""
    import warnings

    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (see :data:`EXIT_CODES`).

    Set ``INTERP_TRACEBACK=1`` to see the full traceback of a failing method instead of one line.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    with interrupts_watched() as interrupted:
        command = "interp"
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
            command = f"interp {args.command}"
            _quiet_libraries()
            args = _apply_config(parser, args, argv)
            _check_options(args)
            return args.func(args)
        except SystemExit as done:  # argparse: --help (0) or a malformed command line (2, one line)
            return done.code if isinstance(done.code, int) else EXIT_CODES["bad input"]
        except BaseException as err:
            if interrupted.is_set() or isinstance(err, KeyboardInterrupt):
                fresh_line = "\n" if sys.stderr.isatty() else ""  # after the terminal's ^C
                sys.stderr.write(f"{fresh_line}{command}: interrupted; no partial output was written\n")
                return EXIT_CODES["interrupted"]
            if isinstance(err, UsageError):
                sys.stderr.write(f"{command}: error: {err}\n")
                return EXIT_CODES["bad input"]
            if not isinstance(err, Exception) or os.environ.get("INTERP_TRACEBACK"):
                raise
            sys.stderr.write(f"{command}: error: {_describe(err)}\n")  # a method failed on the model
            return EXIT_CODES["method failed"]


def _describe(err: BaseException) -> str:
    """One line for a failure: the message, prefixed by the type when it is not a plain ValueError."""
    message = _first_line(err)
    if isinstance(err, ValueError | FileNotFoundError) or type(err).__name__ in message:
        return message
    return f"{type(err).__name__}: {message}"


if __name__ == "__main__":
    sys.exit(main())
