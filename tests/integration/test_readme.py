"""The README's command-line examples run as written (from a scratch folder) and exit 0."""

import re
import shlex
from pathlib import Path

import pytest

from circuits.cli import main as cli

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("interp ")]


def test_the_readme_shows_every_subcommand():
    shown = {shlex.split(line)[1] for line in readme_commands()}
    assert shown >= {"info", "heads", "patch", "discover", "ablate", "dla", "compose", "zoo"}


@pytest.mark.parametrize("line", readme_commands())
def test_readme_command_runs(line, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(shlex.split(line)[1:]) == 0
    assert capsys.readouterr().out.strip()


def test_the_demo_finds_and_reports_the_organisms_heads(tmp_path, monkeypatch, capsys):
    from circuits.cli import demo

    monkeypatch.chdir(tmp_path)
    assert demo.main() == 0
    out = capsys.readouterr().out
    assert "induction: L1H0, L1H1, L1H2, L1H3" in out
    assert (tmp_path / "out/demo/heads.html").stat().st_size > 100_000
    assert (tmp_path / "out/demo/heads/heads.csv").is_file()


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("block", python_blocks(), ids=lambda b: b.splitlines()[0][:40])
def test_readme_python_runs(block, monkeypatch, capsys):
    if "../shared/" in block and not (README.parent.parent / "shared").is_dir():
        pytest.skip("the example needs the shared models folder beside the repository")
    monkeypatch.chdir(README.parent)
    exec(compile(block, "README.md", "exec"), {})
