"""The interp command line: output, exit codes and one-line errors."""

import json

from interp.cli import main
from interp.testing import save_tiny_checkpoint


def test_info_prints_shape_as_json(tmp_path, capsys):
    folder = save_tiny_checkpoint("llama", tmp_path / "m")
    assert main(["info", str(folder), "--device", "cpu", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_layers"] == 2 and info["n_heads"] == 4 and info["n_kv_heads"] == 2
    assert info["n_heads_total"] == 8 and info["architecture"] == "llama"


def test_info_table(tmp_path, capsys):
    folder = save_tiny_checkpoint("gpt2", tmp_path / "m")
    assert main(["info", str(folder), "--device", "cpu"]) == 0
    assert "n_heads_total  8" in capsys.readouterr().out


def test_unknown_model_exits_nonzero_with_one_line(capsys):
    assert main(["info", "zoo:no-such-model"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown zoo model 'no-such-model'" in err
