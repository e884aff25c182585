"""The methods' Python entry points reject bad input with one line naming the value."""

import inspect

import pytest
import torch

from circuits.ablation import ablation_study
from circuits.activation_patching import activation_patching
from circuits.heads import find_heads
from interp.engine import logit_diff
from interp.testing import tiny_model


@pytest.fixture(scope="module")
def model():
    return tiny_model("gpt2")


def _accuracy(logits):
    return (logits[:, -1].argmax(-1) == 5).float()


def test_find_heads_takes_one_kind_as_a_string(model):
    assert find_heads(model, kinds="previous_token").kinds == ["previous_token"]
    with pytest.raises(ValueError, match=r"unknown head kind\(s\) \['wizard'\]; expected some of"):
        find_heads(model, kinds="wizard")
    with pytest.raises(ValueError, match="seed must be a non-negative integer; got -1"):
        find_heads(model, kinds="induction", seed=-1)
    with pytest.raises(ValueError, match="cannot score successor heads on"):
        find_heads(model, kinds=["successor"])


def test_ablation_rejects_bad_modes_counts_and_heads(model):
    tokens = torch.randint(4, 64, (2, 6))
    # The test run checks type hints itself (a Literal mode); unwrapped, the function's own check answers.
    unchecked = inspect.unwrap(ablation_study)
    with pytest.raises(ValueError, match=r"unknown ablation mode 'banana'; expected one of \['zero'"):
        unchecked(model, [(0, 0)], tokens, _accuracy, mode="banana")
    with pytest.raises(ValueError, match="n_random must be an integer >= 0; got -1"):
        ablation_study(model, [(0, 0)], tokens, _accuracy, n_random=-1)
    with pytest.raises(ValueError, match="layer 5 is out of range; expected 0 <= layer < 2"):
        ablation_study(model, [(5, 0)], tokens, _accuracy)
    with pytest.raises(ValueError, match=r"token ids are empty \(shape \(2, 0\)\)"):
        ablation_study(model, [(0, 0)], tokens[:, :0], _accuracy)
    result = ablation_study(model, [(0, 0)], tokens, _accuracy, n_random=0)
    assert result.df["n_random"].item() == 0 and result.df["metric"].item() == "_accuracy"


def test_patching_rejects_empty_prompts_and_bad_budgets(model):
    clean = torch.randint(4, 64, (2, 6))
    metric = logit_diff(5, 6)
    with pytest.raises(ValueError, match=r"token ids are empty \(shape \(0, 6\)\)"):
        activation_patching(model, clean[:0], clean[:0], metric, progress=False)
    with pytest.raises(ValueError, match="memory_budget must be a positive number of bytes, got 0"):
        activation_patching(model, clean, clean.flip(0), metric, memory_budget=0, progress=False)
