"""Every bad input to ``interp`` gets one line on stderr naming the value, and the documented exit code."""

import pytest
import torch

from circuits.cli.main import EXIT_CODES, main
from interp.testing import save_tiny_checkpoint

BAD_INPUT, METHOD_FAILED = EXIT_CODES["bad input"], EXIT_CODES["method failed"]
ZOO = "zoo:induction-2l"
TASK = [ZOO, "--device", "cpu", "--task", "induction"]


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    """A tiny checkpoint, a truncated copy of it, a folder that is not a model, a file and configs."""
    root = tmp_path_factory.mktemp("bad-input")
    good = save_tiny_checkpoint("gpt2", root / "good")
    cut = save_tiny_checkpoint("gpt2", root / "cut")
    weights = cut / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    garbage = save_tiny_checkpoint("gpt2", root / "garbage")
    (garbage / "model.safetensors").write_bytes(b"\xff" * 64)
    (root / "not-a-model").mkdir()
    (root / "not-a-model" / "notes.txt").write_text("hello")
    (root / "a-file").write_text("x")
    configs = {
        "unknown-key": 'kindz = "induction"\n',
        "not-toml": "this is = = not toml\n",
        "zero-prompts": "n_prompts = 0\n",
        "bad-sweep": 'sweep = "banana"\n',
        "string-prompts": 'n_prompts = "many"\n',
    }
    for name, text in configs.items():
        (root / f"{name}.toml").write_text(text)
    return {"root": root, "good": str(good), "cut": str(cut), "garbage": str(garbage)}


CASES = [
    # (argv with {placeholders}, exit code, text the one line must contain)
    (["info", "zoo:no-such-model"], BAD_INPUT, "unknown zoo model 'no-such-model'"),
    (["info", ""], BAD_INPUT, "empty model spec"),
    (["info", "{root}/not-a-model"], BAD_INPUT, "holds no config.json"),
    (["info", "{root}/missing-dir"], BAD_INPUT, "no checkpoint directory at"),
    (["info", "{cut}"], BAD_INPUT, "is truncated or corrupt"),
    (["info", "{garbage}"], BAD_INPUT, "is truncated or corrupt"),
    (["info", "{good}", "--device", "banana"], BAD_INPUT, "unknown device 'banana'"),
    (["info", "{good}", "--device", "cuda:99"], BAD_INPUT, "'cuda:99' is not available"),
    (["info", "{good}", "--dtype", "int8"], BAD_INPUT, "invalid choice: 'int8'"),
    (["info"], BAD_INPUT, "required: model"),
    (["frobnicate"], BAD_INPUT, "invalid choice: 'frobnicate'"),
    (["patch", *TASK[:3], "--task", "poetry"], BAD_INPUT, "invalid choice: 'poetry'"),
    (["patch", *TASK, "--n-prompts", "0"], BAD_INPUT, "--n-prompts must be a positive integer; got 0"),
    (["patch", *TASK, "--n-prompts", "-5"], BAD_INPUT, "--n-prompts must be a positive integer; got -5"),
    (["patch", *TASK, "--n-prompts", "abc"], BAD_INPUT, "invalid int value: 'abc'"),
    (["patch", *TASK, "--sweep", "banana"], BAD_INPUT, "invalid choice: 'banana'"),
    (["heads", "{good}", "--kinds", "wizard"], BAD_INPUT, "unknown head kind(s) ['wizard']"),
    (["heads", "{good}", "--kinds", ","], BAD_INPUT, "unknown head kind(s) [',']"),
    (["heads", "{good}", "--top", "-1"], BAD_INPUT, "--top must be a positive integer; got -1"),
    (["heads", "{good}", "--seed", "-1"], BAD_INPUT, "--seed must be an integer in [0, 2**32); got -1"),
    (["ablate", *TASK, "--heads", "L7H0"], BAD_INPUT, "no head L7H0"),
    (["ablate", *TASK, "--heads", "L0H9"], BAD_INPUT, "no head L0H9"),
    (["ablate", *TASK, "--heads", "L1H0,X"], BAD_INPUT, "malformed head 'X'"),
    (["ablate", *TASK, "--heads", ","], BAD_INPUT, "no heads in ','"),
    (["ablate", *TASK, "--heads", "L1H0", "--n-random", "0"], BAD_INPUT, "--n-random must be a positive"),
    (["discover", *TASK, "--keep", "1.5"], BAD_INPUT, "--keep must be a share in (0, 1]; got 1.5"),
    (["discover", *TASK, "--keep", "0"], BAD_INPUT, "--keep must be a share in (0, 1]; got 0.0"),
    (
        ["heads", "{good}", "--config", "{root}/unknown-key.toml"],
        BAD_INPUT,
        "unknown config key(s) ['kindz']",
    ),
    (["heads", "{good}", "--config", "{root}/not-toml.toml"], BAD_INPUT, "is not valid TOML"),
    (["heads", "{good}", "--config", "{root}/missing.toml"], BAD_INPUT, "does not exist"),
    (["patch", *TASK, "--config", "{root}/zero-prompts.toml"], BAD_INPUT, "--n-prompts must be a positive"),
    (
        ["patch", *TASK, "--config", "{root}/string-prompts.toml"],
        BAD_INPUT,
        "--n-prompts: invalid int value: 'many'",
    ),
    (["patch", *TASK, "--config", "{root}/bad-sweep.toml"], BAD_INPUT, "config key 'sweep' is 'banana'"),
    (["heads", "{good}", "--out", "{root}/a-file"], BAD_INPUT, "is a file; expected a folder"),
    (["heads", "{good}", "--out", "{root}/a-file/sub"], BAD_INPUT, "is a file, not a folder"),
    (["heads", "{good}", "--report", "{root}"], BAD_INPUT, "is a folder; expected a file name"),
    (["heads", "{good}", "--report", "{root}/a-file/r.html"], BAD_INPUT, "is a file, not a folder"),
    # The report path is checked before the model is even loaded, so it is named first.
    (["heads", "zoo:no-such-model", "--report", "{root}/a-file/r.html"], BAD_INPUT, "a-file"),
    (["zoo", "train"], BAD_INPUT, "needs a model name"),
    (["zoo", "train", "banana"], BAD_INPUT, "unknown zoo recipe 'banana'"),
    (["zoo", "fly"], BAD_INPUT, "invalid choice: 'fly'"),
    # Inputs that are fine, on a model the method cannot handle: the method fails, exit 1.
    (
        ["heads", "{good}", "--kinds", "successor", "--out", "{root}/out"],
        METHOD_FAILED,
        "cannot score successor heads",
    ),
]


@pytest.mark.parametrize(("argv", "code", "expected"), CASES, ids=[" ".join(c[0])[:70] for c in CASES])
def test_bad_input_gets_one_line_and_its_exit_code(paths, argv, code, expected, capsys):
    if "cuda" in " ".join(argv) and torch.cuda.device_count() > 99:
        pytest.skip("this machine has a cuda:99")
    argv = [arg.format(**paths) for arg in argv]
    assert main(argv) == code
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err
    assert expected in captured.err, captured.err
    assert "Traceback" not in captured.err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_on_a_machine_without_it_is_bad_input(paths, capsys):
    assert main(["info", paths["good"], "--device", "cuda"]) == BAD_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "device 'cuda' is not available: this machine has no CUDA device" in err


def test_help_lists_the_exit_codes(capsys):
    assert main(["heads", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "1 a method failed on the model; 2 bad input" in out and "130 interrupted" in out


def test_dtype_names_torch_uses_are_accepted(paths, capsys):
    assert main(["info", paths["good"], "--device", "cpu", "--dtype", "bfloat16", "--json"]) == 0
    assert '"dtype": "bfloat16"' in capsys.readouterr().out
