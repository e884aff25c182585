"""Entry points of the ``interp`` command and the demo, safe to interrupt from the first moment.

Importing the toolkit imports torch and transformers, which takes a few seconds; Ctrl-C in that
time would print Python's traceback. These functions import the command line only once they
can catch the interrupt, then answer it as the command line does: one line, exit code 130.

``python -m interp.console demo`` runs the demo; ``python -m interp.console ARGS`` is ``interp ARGS``.
"""

import importlib
import sys

INTERRUPTED = 130
"""The exit code of a run stopped by Ctrl-C (128 + SIGINT), as shells report it."""


def main() -> int:
    """The ``interp`` command."""
    return _run("interp", "interp.cli")


def demo() -> int:
    """``make demo``: find and report the heads of the best offline model."""
    return _run("interp demo", "interp.demo")


def _run(name: str, module: str) -> int:
    try:
        entry = importlib.import_module(module).main
        return entry()
    except KeyboardInterrupt:  # during start-up; later ones are answered by the command itself
        sys.stderr.write(f"{name}: interrupted\n")
        return INTERRUPTED


if __name__ == "__main__":
    if sys.argv[1:2] == ["demo"]:
        sys.exit(demo())
    sys.exit(main())
