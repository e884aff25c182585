"""Entry points of the ``interp`` command and the demo, safe to interrupt from the first moment.

Importing the toolkit imports torch and transformers, which takes a few seconds; Ctrl-C in that
time would print Python's traceback. These functions import the command line only once they
can catch the interrupt, then answer it as the command line does: one line, exit code 130.

``python -m interp.console demo`` runs the demo; ``python -m interp.console ARGS`` is ``interp ARGS``.
"""

import importlib
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

INTERRUPTED = 130
"""The exit code of a run stopped by Ctrl-C (128 + SIGINT), as shells report it."""


@contextmanager
def interrupts_watched() -> Iterator[threading.Event]:
    """Ctrl-C raises KeyboardInterrupt as usual, and also sets the yielded event.

    Libraries sometimes catch the interrupt and raise an error of their own (transformers turns
    one that lands inside its lazy imports into "Could not import module"); the event tells the
    caller that the run was interrupted whatever surfaced. Off the main thread it only yields.
    """
    seen = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return

    def on_interrupt(_signum, _frame):
        seen.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)


def main() -> int:
    """The ``interp`` command."""
    return _run("interp", "interp.cli")


def demo() -> int:
    """``make demo``: find and report the heads of the best offline model."""
    return _run("interp demo", "interp.demo")


def _run(name: str, module: str) -> int:
    with interrupts_watched() as interrupted:
        try:
            entry = importlib.import_module(module).main
        except BaseException:
            if not interrupted.is_set():
                raise
            entry = None  # Ctrl-C during start-up; later ones are answered by the command itself
        if entry is None:
            sys.stderr.write(f"{name}: interrupted\n")
            return INTERRUPTED
    return entry()


if __name__ == "__main__":
    if sys.argv[1:2] == ["demo"]:
        sys.exit(demo())
    sys.exit(main())
