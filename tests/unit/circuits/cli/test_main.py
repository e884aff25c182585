"""The interp command line: output, exit codes and one-line errors."""

import json

from circuits.cli.main import main
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


def test_unknown_model_exits_two_with_one_line(capsys):
    assert main(["info", "zoo:no-such-model"]) == 2
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


def test_unknown_head_kind_exits_two_with_the_kind_named(tmp_path, capsys):
    folder = save_tiny_checkpoint("gpt2", tmp_path / "m")
    assert main(["heads", str(folder), "--device", "cpu", "--kinds", "wizard", "--out", str(tmp_path)]) == 2
    assert "unknown head kind(s) ['wizard']" in capsys.readouterr().err


def test_head_lists_parse_or_name_the_bad_item():
    import pytest

    from circuits.cli.main import UsageError, parse_heads

    assert parse_heads("L5H1, l6h9") == [(5, 1), (6, 9)]
    with pytest.raises(UsageError, match="malformed head 'L5-H1'"):
        parse_heads("L5-H1")


def test_unknown_task_exits_two_with_one_line(capsys):
    code = main(["patch", "zoo:induction-2l", "--device", "cpu", "--task", "poetry"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "poetry" in err


def test_malformed_head_list_exits_two_with_one_line(capsys):
    code = main(["ablate", "zoo:induction-2l", "--device", "cpu", "--task", "induction", "--heads", "L1H0,X"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "malformed head 'X'" in err


def test_a_head_the_model_does_not_have_is_named(capsys):
    code = main(["ablate", "zoo:induction-2l", "--device", "cpu", "--task", "induction", "--heads", "L7H0"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and ("L7H0" in err or "layer 7" in err), err


def test_patch_discover_and_ablate_write_csv_and_json(tmp_path):
    common = ["zoo:induction-2l", "--device", "cpu", "--task", "induction", "--n-prompts", "16"]
    assert main(["patch", *common, "--sweep", "heads", "--out", str(tmp_path)]) == 0
    assert main(["discover", *common, "--method", "eap", "--out", str(tmp_path)]) == 0
    assert main(["ablate", *common, "--heads", "L1H0,L1H1", "--out", str(tmp_path)]) == 0
    patched = json.loads((tmp_path / "patch_heads.json").read_text())
    assert patched["axes"] == ["layer", "head"] and len(patched["scores"]) == 2
    rows = json.loads((tmp_path / "discover_eap_induction.json").read_text())
    assert len(rows) == 8 and (tmp_path / "discover_eap_induction.csv").is_file()
    assert json.loads((tmp_path / "ablation.json").read_text()) and (tmp_path / "ablation.csv").is_file()


def test_heads_by_default_skips_kinds_the_tokenizer_cannot_express(tmp_path, capsys):
    folder = save_tiny_checkpoint("gpt2", tmp_path / "m")
    assert main(["heads", str(folder), "--device", "cpu", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "skipped successor:" in out and "previous_token:" in out
    assert (
        main(["heads", str(folder), "--device", "cpu", "--kinds", "successor", "--out", str(tmp_path)]) == 1
    )


def test_ablation_evidence_draws_a_control_only_when_enough_heads_are_left():
    import torch

    from circuits.evidence import ablation_evidence
    from circuits.heads import HeadScores
    from interp.testing import tiny_model

    model = tiny_model("gpt2")  # 2 layers x 4 heads
    few = HeadScores.from_grid("induction", torch.tensor([[1.0, 0, 0, 0], [1.0, 0, 0, 0]]), 0.5)
    many = HeadScores.from_grid("induction", torch.tensor([[1.0, 1, 1, 0], [1.0, 1, 0, 0]]), 0.5)
    two = ablation_evidence(model, few, n_prompts=8)[0].df
    assert two["heads"].tolist() == ["L0H0,L1H0", "L0H0", "L1H0"]
    assert two["n_random"].tolist() == [5, 0, 0]
    row = ablation_evidence(model, many, n_prompts=8)[0].df.iloc[0]
    assert row["n_heads"] == 5 and row["n_random"] == 0 and row["role"] == "no control"


def test_digit_figure_has_one_row_per_result_digit_and_one_column_per_head():
    import pandas as pd

    from circuits.cli.commands import digit_figure

    df = pd.DataFrame(
        {
            "layer": [0, 0, 1],
            "head": [0, 1, 0],
            "patching_digit0": [0.1, 0.9, 0.0],
            "patching_digit1": [0.5, 0, 0],
        }
    )
    fig = digit_figure(df, ["patching_digit0", "patching_digit1"])
    heat = fig.data[0]
    assert list(heat.x) == ["L0H0", "L0H1", "L1H0"] and list(heat.y) == ["digit0", "digit1"]
    assert heat.z[0][1] == 0.9 and heat.z[1][0] == 0.5


def test_the_heads_table_groups_kinds_and_says_why_a_high_scorer_is_not_a_head():
    import torch

    from circuits.cli.commands import heads_table
    from circuits.heads import HeadScores

    scores = HeadScores.concat(
        [
            HeadScores.from_grid("induction", torch.tensor([[0.1, 0.9], [0.5, 0.2]]), 0.4),
            HeadScores.from_grid("arithmetic", torch.tensor([[0.8, 0.05], [0.6, 0.3]]), 0.1),
        ]
    )
    arithmetic = scores.df["kind"] == "arithmetic"
    scores.reject(arithmetic & (scores.df["layer"] == 0), "attention to operands 0.08 < 0.3")
    text = heads_table(scores, top=2)
    induction_block, arithmetic_block = text.split("\n\n")
    assert induction_block.splitlines() == [
        "induction (head when score > 0.4):",
        "  head    score  is_head",
        "  L0H1    0.900  yes",
        "  L1H0    0.500  yes",
    ]
    assert arithmetic_block.splitlines()[2:] == [
        "  L0H0    0.800  no       attention to operands 0.08 < 0.3",
        "  L1H0    0.600  yes",
    ]
    assert scores.heads("arithmetic") == [(1, 0), (1, 1)]
    assert scores.why_not()[scores.df["score"] <= scores.df["threshold"]].str.startswith("score <= ").all()


def test_sinks_writes_each_heads_sinks_and_act_against_random_heads(tmp_path, capsys):
    common = ["zoo:induction-2l", "--device", "cpu", "--task", "induction", "--n-prompts", "8"]
    report = tmp_path / "sinks.html"
    assert main(
        ["sinks", *common, "--act", "--n-random", "1", "--out", str(tmp_path), "--report", str(report)]
    ) in (0,)
    summary = json.loads((tmp_path / "sinks_induction.json").read_text())["summary"]
    assert len(summary) == 8 and {"first_score", "later_sinks", "later_score"} <= set(summary[0])
    act = json.loads((tmp_path / "act_induction.json").read_text())
    assert [c["condition"] for c in act["conditions"]] == ["none", "act", "random 0"]
    assert report.is_file()
    assert "first token: mean sink score" in capsys.readouterr().out
