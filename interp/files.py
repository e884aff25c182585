"""Output files that are whole or absent: atomic writes, interrupt-safe commits, paths checked early.

A file is written under a hidden temporary name in its own folder and renamed into place, so a
killed run never leaves half a CSV, JSON, HTML or cached checkpoint. :func:`commit_files` writes a
run's whole set of outputs with Ctrl-C held back until the last rename, so an interrupted run leaves
either its old outputs or all of its new ones. :func:`check_writable` lets a command refuse a bad
output path before its sweep starts.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> commit_files({folder / "a.csv": "x\\n1\\n", folder / "b.json": "[1]"})
    >>> sorted(p.name for p in folder.iterdir())
    ['a.csv', 'b.json']
"""

import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


def atomic_write(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    The folder is created when missing. Readers see the old file or the new one, never a part.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold back Ctrl-C (SIGINT) inside the block and raise it when the block ends.

    Outside the main thread signals cannot be caught, and the block runs unprotected.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def commit_files(files: Mapping[str | os.PathLike[str], str | bytes]) -> None:
    """Write every file atomically, with Ctrl-C held back until all are in place."""
    with interrupts_deferred():
        for path, data in files.items():
            atomic_write(path, data)


@contextmanager
def staged_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A hidden staging folder beside ``path``; its files move into ``path`` when the block succeeds.

    For outputs written by other libraries (``save_pretrained``): a failed or interrupted block
    leaves ``path`` as it was; files of ``path`` that the block did not write are kept.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        yield staging
        with interrupts_deferred():
            path.mkdir(parents=True, exist_ok=True)
            for file in sorted(p for p in staging.rglob("*") if p.is_file()):
                target = path / file.relative_to(staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(file, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def check_writable(path: str | os.PathLike[str], *, folder: bool) -> Path:
    """Refuse, before any work, an output path that cannot be written.

    Args:
        path: A folder to write files into (``folder=True``) or a file to write.
        folder: Whether ``path`` names a folder.

    Raises:
        ValueError: The path (or a parent) is a file where a folder is needed, the path is a folder
            where a file is needed, or the nearest existing folder is not writable; each names the path.
    """
    path = Path(path)
    if not str(path).strip():
        raise ValueError("empty output path; expected a file or folder name")
    if path.exists():
        if folder and not path.is_dir():
            raise ValueError(f"output folder {str(path)!r} is a file; expected a folder or a new name")
        if not folder and path.is_dir():
            raise ValueError(f"output file {str(path)!r} is a folder; expected a file name")
    existing = path if folder and path.is_dir() else path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(
            f"output path {str(path)!r} cannot be created: {str(existing)!r} is a file, not a folder"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"output path {str(path)!r} cannot be written: {str(existing)!r} is not writable")
    return path
