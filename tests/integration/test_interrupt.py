"""Ctrl-C at any point of ``interp heads`` prints one line, exits 130, and leaves no output or all of it."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from circuits.cli import main as cli

ROOT = Path(__file__).resolve().parents[2]
INTERP = shutil.which("interp", path=str(Path(sys.executable).parent)) or shutil.which("interp")
"""The installed ``interp`` command, as a user runs it."""
OUTPUTS = {"heads.csv", "heads.json", "report.html"}
"""Files a completed ``interp heads --report`` run always writes (ablation tables come with them)."""


def test_ctrl_c_mid_run_in_process_exits_130_and_writes_nothing(tmp_path, monkeypatch, capsys):
    import circuits.cli.commands

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(circuits.cli.commands, "patching_circuits", interrupted)
    out = tmp_path / "out"
    argv = [
        "heads",
        "zoo:induction-2l",
        "--device",
        "cpu",
        "--out",
        str(out),
        "--report",
        str(out / "r.html"),
    ]
    assert cli.main(argv) == 130
    err = capsys.readouterr().err
    assert err == "interp heads: interrupted; no partial output was written\n"
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.skipif(INTERP is None, reason="the interp command is not installed (pip install -e .)")
# Dense in the first second, while torch is imported: an interrupt raised inside its C++ start-up
# once aborted the process (status -6) instead of exiting 130.
@pytest.mark.parametrize("delay_s", [0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.1, 1.5, 3.0, 6.0, 9.0])
def test_ctrl_c_at_any_point_leaves_no_output_or_all_of_it(tmp_path, delay_s):
    out = tmp_path / "out"
    command = [INTERP, "heads", "zoo:organism", "--device", "cpu"]
    command += ["--out", str(out), "--report", str(out / "report.html")]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    time.sleep(delay_s)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=300)
    written = {p.name for p in out.rglob("*")} if out.exists() else set()
    assert not any(name.endswith(".partial") for name in written), written
    if proc.returncode == 0:  # finished before the signal
        assert OUTPUTS <= written and "report:" in stdout
        return
    assert proc.returncode == 130, stderr
    # Progress bars may precede it on stderr; the run's last word is one line.
    assert "Traceback" not in stderr and stderr.strip().splitlines()[-1].startswith("interp"), stderr
    assert stderr.strip().splitlines()[-1].endswith("interrupted") or "no partial output" in stderr, stderr
    assert written == set() or OUTPUTS <= written, written
