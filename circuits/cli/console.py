"""Entry points of the ``interp`` command and the demo, safe to interrupt from the first moment.

Importing the toolkit imports torch and transformers, which takes a few seconds; Ctrl-C in that
time would print Python's traceback. These functions import the command line only once they
can catch the interrupt, then answer it as the command line does: one line, exit code 130.

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
    with interrupts_watched() as interrupted:
        try:
            entry = importlib.import_module(module).main
        except BaseException:
            if not interrupted.is_set():
                raise
        # A library may swallow the interrupt during its import and be left half-imported: an
        # interrupt seen at any point of start-up ends the run here.
        if interrupted.is_set():
            sys.stderr.write(f"{name}: interrupted\n")
            sys.stdout.flush()
            sys.stderr.flush()
            # Nothing has been written yet; exit at once, before a library that swallowed the
            # interrupt half-way through its import can re-raise it while Python shuts down.
            os._exit(INTERRUPTED)
        try:
            code = entry()
        except KeyboardInterrupt:  # in the moment between the command's own handling and here
            sys.stderr.write(f"{name}: interrupted\n")
            code = INTERRUPTED
    # The run is over and its outputs are whole: a Ctrl-C now must not turn into Python's
    # KeyboardInterrupt (and exit status -2) while the interpreter shuts down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code
