"""Input checks of the public entry points: one clear error naming the value, never a raw failure."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from circuits.cli.main import UsageError, parse_heads
from interp import load_model
from interp.checks import DTYPE_NAMES, check_count, check_token_ids, resolve_device, resolve_dtype
from interp.engine import Engine
from interp.testing import save_tiny_checkpoint, tiny_model


@pytest.fixture(scope="module")
def model():
    return tiny_model("gpt2")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12))
def test_any_device_string_resolves_or_is_named(text):
    try:
        device = resolve_device(text)
    except ValueError as err:
        assert repr(text.strip()) in str(err)
    else:
        assert device == text.strip() and device.split(":")[0] in ("cpu", "cuda", "mps")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=16))
def test_any_dtype_string_resolves_or_is_named(text):
    try:
        dtype = resolve_dtype(text)
    except ValueError as err:
        assert repr(text) in str(err) and "float32" in str(err)
    else:
        assert dtype.is_floating_point and text.strip().removeprefix("torch.") in DTYPE_NAMES


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="LlHh0123456789, -x", max_size=14))
def test_any_head_list_parses_or_names_the_bad_item(text):
    try:
        heads = parse_heads(text)
    except UsageError as err:
        assert "expected a list like L5H1,L6H9" in str(err)
    else:
        assert heads and all(layer >= 0 and head >= 0 for layer, head in heads)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=0, max_size=3))
def test_token_id_shapes_are_accepted_or_named(shape):
    tokens = torch.zeros(shape, dtype=torch.long)
    try:
        checked = check_token_ids(tokens)
    except ValueError as err:
        assert str(tuple(shape)) in str(err)
        assert tokens.numel() == 0 or tokens.ndim not in (1, 2)
    else:
        assert checked.ndim == 2 and checked.numel() > 0


def test_dtype_names_and_bad_dtypes():
    assert resolve_dtype("float32") is torch.float32 and resolve_dtype("torch.bfloat16") is torch.bfloat16
    assert resolve_dtype("half") is torch.float16 and resolve_dtype(torch.float64) is torch.float64
    with pytest.raises(ValueError, match="dtype torch.int64 is not a floating dtype"):
        resolve_dtype(torch.int64)


def test_devices_that_do_not_exist_here_are_named():
    with pytest.raises(ValueError, match="unknown device 'banana'; expected cpu, cuda, cuda:N or mps"):
        resolve_device("banana")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device 'cuda' is not available: this machine has no CUDA"):
            resolve_device("cuda")
    assert resolve_device(None) == ("cuda" if torch.cuda.is_available() else "cpu")


def test_counts_must_be_positive_integers():
    assert check_count("n", 3) == 3 and check_count("n", 0, minimum=0) == 0
    with pytest.raises(ValueError, match="n_prompts must be a positive integer; got -5"):
        check_count("n_prompts", -5)
    with pytest.raises(TypeError, match="n_prompts must be an integer, got str '5'"):
        check_count("n_prompts", "5")
    with pytest.raises(TypeError, match="got bool True"):
        check_count("n_prompts", True)


def test_load_model_rejects_bad_specs_devices_and_dtypes(tmp_path):
    folder = save_tiny_checkpoint("gpt2", tmp_path / "m")
    with pytest.raises(ValueError, match="empty model spec ''"):
        load_model("")
    with pytest.raises(ValueError, match="unknown device 'banana'"):
        load_model(folder, device="banana")
    with pytest.raises(ValueError, match="unknown dtype 'int8'"):
        load_model(folder, device="cpu", dtype="int8")
    assert load_model(folder, device="cpu", dtype="float32").dtype == torch.float32


def test_load_model_names_folders_that_are_not_models(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no config.json, so it is not a model checkpoint"):
        load_model(tmp_path / "empty", device="cpu")
    folder = save_tiny_checkpoint("gpt2", tmp_path / "no-weights")
    (folder / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="holds no weights; expected one of model.safetensors"):
        load_model(folder, device="cpu")
    folder = save_tiny_checkpoint("gpt2", tmp_path / "no-tokenizer")
    for file in folder.iterdir():
        if "token" in file.name or file.name in ("vocab.json", "merges.txt"):
            file.unlink()
    with pytest.raises(ValueError, match="no-tokenizer' holds no tokenizer; expected one of tokenizer.json"):
        load_model(folder, device="cpu")


@pytest.mark.parametrize("damage", ["truncate", "header", "empty"])
def test_load_model_names_a_truncated_or_corrupt_checkpoint(tmp_path, damage):
    folder = save_tiny_checkpoint("llama", tmp_path / "m")
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(
        {"truncate": data[: len(data) - 100], "header": data[:8] + b"{not json" + data[17:], "empty": b""}[
            damage
        ]
    )
    with pytest.raises(ValueError, match=r"model.safetensors' is truncated or corrupt"):
        load_model(folder, device="cpu")


def test_empty_tokens_are_named_by_the_model_and_the_engine(model):
    empty = torch.zeros(1, 0, dtype=torch.long)
    with pytest.raises(ValueError, match=r"token ids are empty \(shape \(1, 0\)\)"):
        model.run(empty)
    with pytest.raises(ValueError, match=r"token ids are empty \(shape \(0, 5\)\)"):
        Engine(model.weights).trace(torch.zeros(0, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="token ids must be integers, got dtype torch.float32"):
        model.run(torch.zeros(1, 3))
