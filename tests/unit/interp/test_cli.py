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


def test_heads_writes_csv_json_and_report(tmp_path, capsys):
    folder = save_tiny_checkpoint("gpt2", tmp_path / "m")
    out, report = tmp_path / "out", tmp_path / "report.html"
    code = main(
        [
            "heads",
            str(folder),
            "--device",
            "cpu",
            "--kinds",
            "previous_token,induction",
            "--out",
            str(out),
            "--report",
            str(report),
        ]
    )
    assert code == 0
    rows = json.loads((out / "heads.json").read_text())
    assert {r["kind"] for r in rows} == {"previous_token", "induction"} and len(rows) == 16
    assert (out / "heads.csv").read_text().startswith("layer,head,kind,score")
    assert "Head scores" in report.read_text()


def test_config_file_supplies_options_and_flags_win(tmp_path):
    folder = save_tiny_checkpoint("gpt2", tmp_path / "m")
    config = tmp_path / "run.toml"
    config.write_text(f'kinds = "previous_token"\nout = "{tmp_path / "from-config"}"\ndevice = "cpu"\n')
    assert main(["heads", str(folder), "--config", str(config), "--out", str(tmp_path / "flag")]) == 0
    assert (tmp_path / "flag" / "heads.csv").is_file() and not (tmp_path / "from-config").exists()
    rows = json.loads((tmp_path / "flag" / "heads.json").read_text())
    assert {r["kind"] for r in rows} == {"previous_token"}


def test_unknown_config_key_is_a_usage_error(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text('kindz = "induction"\n')
    assert main(["heads", "zoo:whatever", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown config key(s) ['kindz']" in err


def test_unknown_head_kind_exits_one_with_the_kind_named(tmp_path, capsys):
    folder = save_tiny_checkpoint("gpt2", tmp_path / "m")
    assert main(["heads", str(folder), "--device", "cpu", "--kinds", "wizard", "--out", str(tmp_path)]) == 1
    assert "unknown head kind(s) ['wizard']" in capsys.readouterr().err


def test_head_lists_parse_or_name_the_bad_item():
    import pytest

    from interp.cli import UsageError, parse_heads

    assert parse_heads("L5H1, l6h9") == [(5, 1), (6, 9)]
    with pytest.raises(UsageError, match="malformed head 'L5-H1'"):
        parse_heads("L5-H1")
