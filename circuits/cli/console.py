"""Entry points of the ``interp`` command and the demo, safe to interrupt from the first moment.

Importing the toolkit imports torch and transformers, which takes a few seconds; Ctrl-C in that
time would print Python's traceback. These functions import the command line under a handler
that answers the interrupt as the command line does (one line, exit code 130) without raising.

The ``interp`` command and ``make demo`` call these from a small script, as console scripts do
(``sys.exit(main())``). Run instead as ``python -m circuits.cli.console`` (which loads this module
twice, as ``__main__`` and as itself), a Ctrl-C late in a run was seen now and then to end the
process with Python's own unhandled-interrupt status (-2) after the command had answered it; the
script form never did in the same tests. So this module has no ``__main__`` block.
"""

import importlib
import os
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
    return _run("interp", "circuits.cli.main")


def demo() -> int:
    """``make demo``: find and report the heads of the best offline model."""
    return _run("interp demo", "circuits.cli.demo")


def _run(name: str, module: str) -> int:
    # During start-up nothing has been written yet, so an interrupt ends the process from the
    # signal handler itself. Raising KeyboardInterrupt there instead can land inside a C++
    # extension's call back into Python (torch's import does this), where it cannot unwind and
    # aborts the process (SIGABRT, status -6); a library may also swallow it half-way through
    # an import and leave itself half-imported.
    previous = signal.signal(signal.SIGINT, lambda _signum, _frame: _exit_interrupted(name))
    try:
        entry = importlib.import_module(module).main
    finally:
        signal.signal(signal.SIGINT, previous)
    with interrupts_watched():
        try:
            code = entry()
        except KeyboardInterrupt:  # in the moment between the command's own handling and here
            sys.stderr.write(f"{name}: interrupted\n")
            code = INTERRUPTED
    # The run is over and its outputs are whole: a Ctrl-C now must not turn into Python's
    # KeyboardInterrupt (and exit status -2) while the interpreter shuts down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


def _exit_interrupted(name: str) -> None:
    """Say the run was interrupted and end the process now, exit code 130, writing nothing."""
    sys.stderr.write(f"{name}: interrupted\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(INTERRUPTED)
