"""Output files are whole or absent: atomic writes, commits that hold back Ctrl-C, paths checked early."""

import signal

import pytest

from interp import files
from interp.files import atomic_write, check_writable, commit_files, staged_folder


def test_atomic_write_replaces_whole_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "t.csv"
    atomic_write(target, "a\n1\n")
    atomic_write(target, b"a\n2\n")
    assert target.read_text() == "a\n2\n" and sorted(p.name for p in target.parent.iterdir()) == ["t.csv"]


def test_a_write_that_fails_midway_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "t.json"
    atomic_write(target, "[1]")

    def fail(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, "[2, 3")
    assert target.read_text() == "[1]" and [p.name for p in tmp_path.iterdir()] == ["t.json"]


def test_ctrl_c_during_a_commit_waits_for_the_last_file(tmp_path, monkeypatch):
    written = []
    real = files.atomic_write

    def write_and_interrupt(path, data):
        if not written:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C after the first file
        written.append(path)
        return real(path, data)

    monkeypatch.setattr(files, "atomic_write", write_and_interrupt)
    paths = {tmp_path / f"{i}.csv": f"{i}\n" for i in range(4)}
    with pytest.raises(KeyboardInterrupt):
        commit_files(paths)
    assert all(path.read_text() == text for path, text in paths.items())
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_staged_folder_that_fails_leaves_the_target_untouched(tmp_path):
    target = tmp_path / "ckpt"
    target.mkdir()
    (target / "keep.txt").write_text("old")
    with pytest.raises(RuntimeError), staged_folder(target) as staging:
        (staging / "model.safetensors").write_text("half")
        raise RuntimeError("killed")
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"] and [p.name for p in target.iterdir()] == [
        "keep.txt"
    ]
    with staged_folder(target) as staging:
        (staging / "model.safetensors").write_text("whole")
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt", "model.safetensors"]
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_output_paths_are_checked_before_any_work(tmp_path):
    (tmp_path / "f").write_text("x")
    assert check_writable(tmp_path / "new" / "deeper", folder=True) == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # checking creates nothing
    with pytest.raises(ValueError, match="output folder .*f' is a file; expected a folder"):
        check_writable(tmp_path / "f", folder=True)
    with pytest.raises(ValueError, match="cannot be created: .*f' is a file, not a folder"):
        check_writable(tmp_path / "f" / "r.html", folder=False)
    with pytest.raises(ValueError, match="output file .* is a folder; expected a file name"):
        check_writable(tmp_path, folder=False)
