"""Name movers: each head's direct write to logit(IO) - logit(S) and its attention to IO and S."""

import dataclasses
import json

import pytest
import torch

from circuits.ioi_circuit import circuit_sizes, ioi_circuit
from circuits.logit_attribution import task_logit_attribution
from circuits.name_movers import MIN_DLA_SHARE, name_movers
from circuits.tasks.ioi import ioi_task
from interp.testing import tiny_model_with
from interp.word_tokenizer import SPECIALS, word_level_tokenizer

pytestmark = pytest.mark.usefixtures("one_thread")

NAMES = ("Mary", "John", "Tom", "Anna")
TOL = 1e-5


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    words = [*SPECIALS, *NAMES, *"When and went to the store, gave a drink".split()]
    return word_level_tokenizer(words, tmp_path_factory.mktemp("ioi-tok"))


@pytest.fixture(scope="module")
def model(tokenizer):
    return tiny_model_with(tokenizer, seed=0)  # a random model whose mean logit difference is positive


@pytest.fixture(scope="module")
def task(model):
    return ioi_task(model, n_prompts=8, names=NAMES, seed=0)


def test_scores_are_the_heads_dla_and_their_attention_to_each_name(model, task):
    result = name_movers(model, task)
    dla = task_logit_attribution(model, task, "head")
    assert result.logit_diff == pytest.approx(float(dla.total.mean())) and result.logit_diff > 0
    _, cache = model.run_with_cache(task.clean_tokens, names_filter=["blocks.0.attn.hook_pattern"])
    pattern = cache["blocks.0.attn.hook_pattern"]
    rows = result.df.set_index("label")
    for head in range(model.n_heads):
        row = rows.loc[f"L0H{head}"]
        assert row["dla"] == pytest.approx(float(dla.head_grid()[0, head]), abs=TOL)
        io, s = [], []
        for i in range(len(task)):
            at = pattern[i, head, task.positions[i]]
            names = task.clean_tokens[i].tolist()
            io.append(sum(float(at[k]) for k, t in enumerate(names) if t == int(task.answer_tokens[i])))
            s.append(sum(float(at[k]) for k, t in enumerate(names) if t == int(task.wrong_tokens[i])))
        assert row["attn_io"] == pytest.approx(sum(io) / len(io), abs=TOL)
        assert row["attn_s"] == pytest.approx(sum(s) / len(s), abs=TOL)
        mover = row["attn_io"] > row["attn_s"] and row["dla_share"] >= MIN_DLA_SHARE
        assert (row["role"] == "name mover") == mover
    assert result.df["dla"].is_monotonic_decreasing
    assert json.loads(result.to_json())["rows"][0]["label"] == result.df["label"].iloc[0]
    assert result.plot() is not None


def test_bad_input_is_named(model, task, tokenizer):
    with pytest.raises(ValueError, match="min_share=0.0; expected a share in"):
        name_movers(model, task, min_share=0.0)
    with pytest.raises(ValueError, match="unknown role 'mover'"):
        name_movers(model, task).heads("mover")
    swapped = dataclasses.replace(
        task.subset(torch.arange(4)), answer_tokens=torch.full((4,), 3)
    )  # in no prompt
    with pytest.raises(ValueError, match="prompt 0 does not contain both its answer"):
        name_movers(model, swapped)
    reluctant = tiny_model_with(tokenizer, seed=5)  # prefers S on these prompts
    with pytest.raises(ValueError, match="does not prefer IO over S"):
        name_movers(reluctant, ioi_task(reluctant, n_prompts=8, names=NAMES, seed=0))


def test_ioi_circuit_compares_the_finders_without_ground_truth(model, task):
    result = ioi_circuit(model, task=task, finders=["activation_patching", "eap"], top_k=1, n_sizes=2)
    summary = result.summary()
    assert summary["finder"].tolist() == ["activation_patching", "eap"]
    assert summary["heads"].str.fullmatch(r"L0H[01]").all()
    assert summary["cpr"].between(-10, 10).all() and (summary["runtime_s"] > 0).all()
    assert result.overlap().shape == (2, 2)
    assert set(json.loads(result.to_json())) >= {"summary", "overlap", "name_movers"}
    assert circuit_sizes(2, 2) == [0, 1, 2]
    with pytest.raises(ValueError, match="n must be a positive integer"):
        circuit_sizes(10, 0)
