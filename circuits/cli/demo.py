"""The demo behind ``make demo``: find the heads of a zoo model, prove them, and write a report.

Runs on the zoo's ``organism`` (a four-layer model trained on induction, successor, retrieval and
arithmetic tasks), falling back to the TinyStories llama2.c model in ``../shared/models/llama2c``
when the zoo is missing. Three steps, each one ``interp`` command:

1. ``interp info``: the model's shape;
2. ``interp heads``: every head scored for every kind, the heads found backed by mean ablation
   against random heads, written as CSV/JSON and a self-contained HTML report;
3. ``interp discover``: the induction circuit found by activation patching, for comparison.

Writes nothing outside ``out/demo/``.
"""

import sys
from pathlib import Path

from circuits.cli import main as cli
from interp.zoo import zoo_names

LLAMA2C = Path(__file__).resolve().parents[3] / "shared" / "models" / "llama2c" / "stories260K.bin"
OUT = Path("out/demo")


def pick_model() -> str:
    """The spec of the best model available offline."""
    if "organism" in zoo_names():
        return "zoo:organism"
    if LLAMA2C.is_file():
        return f"llama2c:{LLAMA2C}"
    raise SystemExit("no offline model: neither data/zoo/organism nor ../shared/models/llama2c exists")


def steps(spec: str) -> list[list[str]]:
    """The ``interp`` commands the demo runs on ``spec``."""
    common = ["--device", "cpu", "--seed", "0"]
    run = [
        ["info", spec, *common[:2]],
        ["heads", spec, *common, "--out", str(OUT / "heads"), "--report", str(OUT / "heads.html")],
    ]
    if spec.startswith("zoo:"):
        run.append(["discover", spec, *common, "--task", "induction", "--out", str(OUT / "discover")])
    else:
        run[1] += ["--kinds", "previous_token,duplicate_token,induction,successor"]
    return run


def main() -> int:
    spec = pick_model()
    for args in steps(spec):
        sys.stdout.write(f"\n== interp {' '.join(args)}\n")
        sys.stdout.flush()
        code = cli.main(args)
        if code:
            return code
    sys.stdout.write(f"\nOpen {OUT / 'heads.html'} in a browser for the report.\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
