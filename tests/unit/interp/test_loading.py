"""load_model: every spec form, and clear errors for the bad ones."""

import pytest
import torch

from interp import HookedModel, load_model
from interp.testing import save_tiny_checkpoint, tiny_hf_model, word_tokenizer


def test_local_directory(tmp_path):
    model = load_model(str(save_tiny_checkpoint("gpt2", tmp_path)), device="cpu")
    assert isinstance(model, HookedModel) and model.summary().architecture == "gpt2"


def test_model_object_with_in_memory_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<pad>": 1} | {f"t{i}": i for i in range(2, 64)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", pad_token="<pad>")
    hf = tiny_hf_model("llama")
    model = load_model(hf, tokenizer=tok, device="cpu")
    tokens = torch.tensor([[5, 6, 7]])
    with torch.no_grad():
        assert torch.allclose(model.run(tokens), hf(tokens).logits, atol=1e-5)
    assert model.to_single_token("t7") == 7
    assert model.to_tokens("t12 t30")[0].tolist() == [12, 30]


def test_model_object_needs_a_tokenizer():
    with pytest.raises(ValueError, match="needs its tokenizer"):
        load_model(tiny_hf_model("gpt2"))


def test_dtype_is_applied(tmp_path):
    model = load_model(save_tiny_checkpoint("neox", tmp_path), device="cpu", dtype=torch.bfloat16)
    assert model.dtype == torch.bfloat16 and model.weights.W_Q.dtype == torch.bfloat16


def test_unknown_spec_form_is_named():
    with pytest.raises(ValueError, match="unknown model spec 'nope:thing'; expected a hub id"):
        load_model("nope:thing")


def test_missing_directory_is_named(tmp_path):
    missing = tmp_path / "not-here"
    with pytest.raises(FileNotFoundError, match="no checkpoint directory at .*not-here"):
        load_model(str(missing))


def test_file_instead_of_directory(tmp_path):
    f = tmp_path / "weights.bin"
    f.write_bytes(b"\0" * 8)
    with pytest.raises(ValueError, match="is a file, not a checkpoint directory"):
        load_model(str(f))


def test_unknown_zoo_name_lists_the_zoo():
    with pytest.raises(ValueError, match="unknown zoo model 'no-such-organism'; expected one of"):
        load_model("zoo:no-such-organism")


def test_hub_id_without_network_fails_with_a_clear_error(monkeypatch):
    # The hub library reads the variable when it is imported; set its constant too, or the
    # request waits for the network to time out.
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(OSError, match="could not load 'interp-toolkit-test/not-a-real-model'"):
        load_model("interp-toolkit-test/not-a-real-model")


def test_missing_llama2c_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.bin"):
        load_model(f"llama2c:{tmp_path / 'missing.bin'}")


def test_word_tokenizer_prepends_bos():
    tok = word_tokenizer(40)
    assert tok("t5 t16 t31")["input_ids"] == [1, 5, 16, 31]
