"""Tests of the task library: shapes, answers that follow from the prompts, metrics, refusals."""

import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from jaxtyping import TypeCheckError

from circuits.tasks import (
    Task,
    arithmetic_task,
    greater_than_task,
    induction_task,
    ioi_task,
    retrieval_grid,
    retrieval_task,
    successor_task,
    zoo_task,
)
from circuits.tasks.retrieval import HAYSTACK, KEYS, VALUES, haystack_sentences
from circuits.tasks.successor import expressible_sets
from circuits.tasks.token_sets import ORDINAL_SETS
from circuits.tasks.tokens import word_token, word_tokens
from circuits.tasks.zoo_vocab import zoo_filler
from interp import load_model
from interp.testing import WORD_START, piece_tokenizer, tiny_model, tiny_model_with

FILL = zoo_filler()


@pytest.fixture(scope="module")
def word_model():
    """A tiny random GPT-2 over the zoo's word vocabulary (digits, set members, filler words)."""
    from circuits.tasks.zoo_vocab import zoo_tokenizer
    from circuits.zoo.train import RECIPES, build_model

    recipe = replace(RECIPES["organism"], n_layers=1, d_mlp=16, attn_only_layers=())
    return load_model(build_model(recipe), tokenizer=zoo_tokenizer(), device="cpu")


@pytest.fixture(scope="module")
def gpt2_tiny():
    return tiny_model("gpt2")


def words(model, ids):
    return [model.tokenizer.decode([int(i)]).strip() for i in ids]


def test_task_validates_shapes():
    good = dict(
        name="t",
        clean_tokens=torch.zeros(2, 3, dtype=torch.long),
        corrupted_tokens=torch.zeros(2, 3, dtype=torch.long),
        answer_tokens=torch.zeros(2, dtype=torch.long),
        wrong_tokens=torch.ones(2, dtype=torch.long),
        positions=torch.tensor([1, 2]),
        metadata=pd.DataFrame({"a": [0, 1]}),
    )
    Task(**good)
    # Shape and Literal checks fail in jaxtyping's checker under pytest, in __post_init__ otherwise.
    bad_input = (ValueError, TypeCheckError)
    with pytest.raises(bad_input, match="corrupted_tokens"):
        Task(**good | {"corrupted_tokens": torch.zeros(2, 4, dtype=torch.long)})
    with pytest.raises(ValueError, match="positions must lie"):
        Task(**good | {"positions": torch.tensor([1, 3])})
    with pytest.raises(bad_input, match="metric"):
        Task(**good | {"metric": "kl"})
    with pytest.raises(ValueError, match="metadata has 1 rows"):
        Task(**good | {"metadata": pd.DataFrame({"a": [0]})})
    Task(**good | {"negative_tokens": torch.zeros(2, 5, dtype=torch.long)})  # any length, one per prompt
    with pytest.raises(bad_input, match="negative_tokens"):
        Task(**good | {"negative_tokens": torch.zeros(3, 3, dtype=torch.long)})


def test_metrics_read_each_prompts_position():
    task = Task(
        name="t",
        clean_tokens=torch.zeros(2, 3, dtype=torch.long),
        corrupted_tokens=torch.zeros(2, 3, dtype=torch.long),
        answer_tokens=torch.tensor([1, 2]),
        wrong_tokens=torch.tensor([0, 0]),
        positions=torch.tensor([0, 2]),
        metadata=pd.DataFrame({"i": [0, 1]}),
    )
    logits = torch.zeros(2, 3, 4)
    logits[0, 0, 1] = 2.0  # prompt 0 reads position 0: right
    logits[1, 0, 2] = 5.0  # prompt 1 reads position 2, not 0: wrong there
    logits[1, 2, 3] = 1.0
    assert task.logit_diff(logits).tolist() == [2.0, 0.0]
    assert task.accuracy(logits).tolist() == [1.0, 0.0]
    probs = task.answer_prob(logits)
    assert probs[0] == pytest.approx(np.exp(2) / (np.exp(2) + 3))
    assert torch.equal(task.score(logits), task.logit_diff(logits))
    # Logits already read at the metric positions give the same values.
    read = logits[torch.arange(2), task.positions][:, None]
    assert torch.equal(task.logit_diff(read), task.logit_diff(logits))


def test_induction_answers_repeat_the_first_copy(gpt2_tiny):
    task = induction_task(gpt2_tiny, n_prompts=16, seq_len=24, seed=3)
    toks = task.clean_tokens
    assert toks.shape == task.corrupted_tokens.shape == (16, 25)
    assert (toks[:, 0] == 1).all()  # BOS
    for i, row in task.metadata.iterrows():
        pos, period = int(task.positions[i]), int(row["period"])
        assert toks[i, pos] == toks[i, pos - period]
        assert task.answer_tokens[i] == toks[i, pos - period + 1] == toks[i, pos + 1]
        assert task.wrong_tokens[i] not in toks[i].tolist()
    assert task.metadata["period"].nunique() > 3  # random periods
    again = induction_task(gpt2_tiny, n_prompts=16, seq_len=24, seed=3)
    assert torch.equal(again.clean_tokens, toks)


def test_induction_spread_places_first_copies_further_into_the_context():
    from circuits.tasks.induction import sample_induction

    pool = np.arange(10, 300)
    by_period = sample_induction(np.random.default_rng(0), pool, 2000, 32, (3, 12))
    spread = sample_induction(np.random.default_rng(0), pool, 2000, 32, (3, 12), spread=1.0)
    for s in (by_period, spread):
        for i in range(len(s["tokens"])):
            o, n, p = int(s["offset"][i]), int(s["span"][i]), int(s["period"][i])
            assert n <= p and o + p + n <= 32  # the copies do not overlap and fit
            assert (s["tokens"][i, o : o + n] == s["tokens"][i, o + p : o + p + n]).all()
            assert s["answer"][i] == s["tokens"][i, s["pos"][i] + 1]
    first_end = {k: s["offset"] + s["span"] for k, s in (("period", by_period), ("spread", spread))}
    # First copies ending past position 20: about 2% when the period is drawn first, 20% or more spread.
    assert (first_end["period"] > 20).mean() < 0.05 < 0.2 < (first_end["spread"] > 20).mean()
    half = sample_induction(np.random.default_rng(0), pool, 2000, 32, (3, 12), spread=0.5)
    assert (first_end["period"] > 20).mean() < ((half["offset"] + half["span"]) > 20).mean()
    with pytest.raises(ValueError, match="spread 1.5 is not a share of prompts"):
        sample_induction(np.random.default_rng(0), pool, 4, 32, (3, 12), spread=1.5)


def test_successor_list_form_on_word_vocabulary(word_model):
    task = successor_task(word_model, sets=("days", "months", "letters"), n_prompts=30, seed=1)
    for i, row in task.metadata.iterrows():
        s = ORDINAL_SETS[row["set"]]
        shown = words(word_model, task.clean_tokens[i, 1:])
        assert shown == list(s.members[s.members.index(shown[0]) :][: len(shown)]) or s.cyclic
        assert words(word_model, [task.answer_tokens[i]]) == [s.successor(shown[-1])]
        assert words(word_model, [task.wrong_tokens[i]]) == [shown[-1]]
    assert set(task.metadata["set"]) == {"days", "months", "letters"}


def test_successor_recall_form(word_model):
    from circuits.tasks.zoo_vocab import zoo_filler

    task = successor_task(
        word_model, sets=("days", "ordinals"), form="recall", filler=zoo_filler(), seq_len=10
    )
    for i, row in task.metadata.iterrows():
        member = words(word_model, [task.clean_tokens[i, row["member_pos"]]])[0]
        assert words(word_model, [task.answer_tokens[i]])[0] == ORDINAL_SETS[row["set"]].successor(member)
        assert task.corrupted_tokens[i, row["member_pos"]] != task.clean_tokens[i, row["member_pos"]]
    assert words(word_model, task.clean_tokens[:, -1]) == ["next"] * len(task)


def test_successor_marked_form(word_model):
    from circuits.tasks.zoo_vocab import zoo_filler

    sets = ("days", "ordinals", "letters")
    task = successor_task(word_model, sets=sets, form="marked", filler=zoo_filler(), seq_len=12, n_prompts=40)
    members = {m: name for name in sets for m in ORDINAL_SETS[name].members}
    for i, row in task.metadata.iterrows():
        prompt = words(word_model, task.clean_tokens[i])
        p = int(row["member_pos"])
        member = prompt[p]
        # The cue marks the member and ends the prompt; nowhere else.
        assert prompt[p - 1] == "next" and prompt[-1] == "next" and prompt.count("next") == 2
        assert members[member] == row["set"]
        assert words(word_model, [task.answer_tokens[i]])[0] == ORDINAL_SETS[row["set"]].successor(member)
        # Two distractor members, each from another set.
        others = [w for k, w in enumerate(prompt) if w in members and k != p]
        assert len(others) == 2 and all(members[w] != row["set"] for w in others)
        assert task.corrupted_tokens[i, p] != task.clean_tokens[i, p]
    with pytest.raises(ValueError, match="seq_len 4 is too short"):
        successor_task(word_model, sets=sets, form="marked", filler=zoo_filler(), seq_len=4)
    with pytest.raises(ValueError, match=r"distractors come from other sets; got only \['days'\]"):
        successor_task(word_model, sets=("days",), form="marked", filler=zoo_filler())


def test_arithmetic_answers_are_the_result_digits(word_model):
    for op in ("add", "sub"):
        task = arithmetic_task(word_model, n_prompts=32, n_digits=3, operation=op, seed=2)
        for i, row in task.metadata.iterrows():
            result = row["a"] + row["b"] if op == "add" else row["a"] - row["b"]
            digits = f"{result:0{4}d}"
            assert words(word_model, [task.answer_tokens[i]])[0] == digits[row["digit"]]
            # Counterfactual operands change the digit asked for.
            assert task.wrong_tokens[i] != task.answer_tokens[i]


def test_arithmetic_negatives_have_no_operands_and_leave_the_prompts_alone(word_model):
    task = arithmetic_task(word_model, n_prompts=16, n_digits=2, seed=3)
    again = arithmetic_task(word_model, n_prompts=16, n_digits=2, seed=3)
    neg, clean = task.negative_tokens, task.clean_tokens
    assert neg.shape == clean.shape and torch.equal(neg, again.negative_tokens)
    numbers = set(word_tokens(word_model, [str(d) for d in range(10)] + ["+", "-", "="]))
    bos = 1 if word_model.tokenizer.bos_token_id is not None else 0
    operands = [bos + k for k in (0, 1, 3, 4)]  # a1 a2 + b1 b2 = ...
    assert not any(int(t) in numbers for t in neg[:, operands].flatten())
    # One word stands for every operand digit of every negative (greater-than's fixed YY=01).
    assert neg[:, operands].unique().numel() == 1
    rest = [k for k in range(clean.shape[1]) if k not in operands]
    assert torch.equal(neg[:, rest], clean[:, rest])
    assert torch.equal(task.subset([2, 5]).negative_tokens, neg[[2, 5]])


def test_retrieval_filler_form_and_grid(word_model):
    grid = retrieval_grid(
        word_model, context_lens=(32, 40), depths=(0.0, 0.5, 1.0), n_per_depth=3, form="filler", filler=FILL
    )
    assert set(grid) == {32, 40}
    for n, task in grid.items():
        assert task.clean_tokens.shape == (9, n)
        for i, row in task.metadata.iterrows():
            p = int(row["needle_pos"])
            assert task.answer_tokens[i] == task.clean_tokens[i, p + 1]
            assert words(word_model, task.clean_tokens[i, -2:])[0] == "?"
            assert task.clean_tokens[i, -1] == task.clean_tokens[i, p]  # the question names the key
            assert task.corrupted_tokens[i, p + 1] == task.wrong_tokens[i]
            # Two distractor needles with other keys and values.
            prompt = words(word_model, task.clean_tokens[i])
            assert sum(w in KEYS for w in prompt) == 4 and sum(w in VALUES for w in prompt) == 3
            assert task.wrong_tokens[i] not in task.clean_tokens[i].tolist()
        assert sorted(task.metadata["depth"].unique()) == [0.0, 0.5, 1.0]


def test_haystack_is_shipped_with_its_source():
    assert HAYSTACK.is_file() and (HAYSTACK.parent / "SOURCE.md").is_file()
    assert len(haystack_sentences()) > 300


def test_zoo_task_formats(word_model):
    task = zoo_task(word_model, "induction", {"seq_len": 20, "span": [3, 6]}, n_prompts=4)
    assert task.clean_tokens.shape == (4, 21)
    spread = zoo_task(word_model, "induction", {"seq_len": 20, "span": [3, 6], "spread": 1.0}, n_prompts=64)
    assert not torch.equal(spread.clean_tokens[:4], task.clean_tokens)  # the card's spread reaches the task


def test_refusals_name_the_offending_string(gpt2_tiny, word_model):
    with pytest.raises(ValueError, match="'Monday' \\(member of set 'days'\\) is not a single token"):
        successor_task(gpt2_tiny, sets=("days",))
    with pytest.raises(ValueError, match="'0' \\(digit\\) is not a single token"):
        arithmetic_task(gpt2_tiny)
    with pytest.raises(ValueError, match="'Mary' \\(name\\)"):
        ioi_task(gpt2_tiny)
    with pytest.raises(ValueError, match="'00' \\(two-digit year\\)|does not know"):
        greater_than_task(gpt2_tiny)
    with pytest.raises(ValueError, match="does not know 'The'"):
        retrieval_task(gpt2_tiny, context_len=30)
    with pytest.raises(ValueError, match="'sandwich' \\(needle value\\)"):
        retrieval_task(word_model, form="filler", context_len=40, values=["apple", "sandwich"], filler=FILL)
    with pytest.raises(ValueError, match="is 41 tokens long; expected at most the model's context of 32"):
        induction_task(gpt2_tiny, seq_len=40)
    with pytest.raises(ValueError, match="context of 64"):
        retrieval_task(word_model, form="filler", context_len=65, filler=FILL)
    with pytest.raises(ValueError, match="unknown token set 'weekdays'"):
        successor_task(word_model, sets=("weekdays",))
    with pytest.raises(ValueError, match="filler word 'Monday' is a set member"):
        successor_task(word_model, sets=("days",), form="recall", filler=["the", "Monday"])


def test_real_tokenizer_llama2c(stories260k):
    """The real TinyStories tokenizer: induction and text retrieval work; sets it cannot spell are refused."""
    task = induction_task(stories260k, n_prompts=8, seq_len=30, seed=0)
    assert task.clean_tokens.shape == (8, 31) and (task.clean_tokens[:, 0] == 1).all()
    task = retrieval_task(stories260k, context_len=200, depths=(0.0, 0.5, 1.0), n_prompts=6, seed=0)
    assert task.clean_tokens.shape == (6, 200)
    text = stories260k.to_string(task.clean_tokens[1])
    assert "secret word of the" in text and "Areopagitica" not in text
    with pytest.raises(ValueError, match="'Monday' \\(member of set 'days'\\) is not a single token"):
        successor_task(stories260k, sets=("days",))
    with pytest.raises(ValueError, match="context of 512"):
        retrieval_task(stories260k, context_len=600)


def test_hub_models_get_retrieval_prompts_with_room_for_a_haystack(stories260k):
    from circuits.tasks.registry import RETRIEVAL_CONTEXT, task_for

    task = task_for(stories260k, "retrieval", n_prompts=2)
    assert task.clean_tokens.shape == (2, min(RETRIEVAL_CONTEXT, stories260k.n_ctx))


@pytest.fixture(scope="module")
def hub_words_model(tmp_path_factory):
    """A tiny random GPT-2 whose word vocabulary holds the IOI and greater-than prompts."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from circuits.tasks.ioi import NAMES
    from interp.word_tokenizer import SPECIALS, word_level_tokenizer

    template = "When and went to the store, gave a drink The war lasted from year".split()
    vocab = [*SPECIALS, *NAMES, *template, *(f"{y:02d}" for y in range(100))]
    tok = word_level_tokenizer(vocab, tmp_path_factory.mktemp("tok"))
    torch.manual_seed(0)
    config = GPT2Config(n_layer=1, n_head=2, n_embd=16, n_positions=32, vocab_size=len(vocab))
    return load_model(GPT2LMHeadModel(config).eval(), tokenizer=tok, device="cpu")


def test_ioi_prompts_repeat_the_subject_and_corrupt_its_second_mention(hub_words_model):
    model = hub_words_model
    task = ioi_task(model, n_prompts=8, seed=3)
    for i in range(len(task)):
        clean, corrupted = words(model, task.clean_tokens[i]), words(model, task.corrupted_tokens[i])
        io, s = words(model, [task.answer_tokens[i], task.wrong_tokens[i]])
        assert clean[1:] == [
            "When",
            io,
            "and",
            s,
            "went",
            "to",
            "the",
            "store,",
            s,
            "gave",
            "a",
            "drink",
            "to",
        ]
        changed = [k for k in range(len(clean)) if clean[k] != corrupted[k]]
        assert changed == [9] and corrupted[9] not in (io, s)
    assert (task.positions == task.clean_tokens.shape[1] - 1).all()


def test_greater_than_answers_straddle_the_start_year(hub_words_model):
    model = hub_words_model
    task = greater_than_task(model, n_prompts=8, seed=1)
    for i in range(len(task)):
        clean, corrupted = words(model, task.clean_tokens[i]), words(model, task.corrupted_tokens[i])
        year = int(clean[8])
        assert clean[1:8] == ["The", "war", "lasted", "from", "the", "year", "17"]
        assert clean[9:] == ["to", "the", "year", "17"]
        answers = words(model, [task.answer_tokens[i], task.wrong_tokens[i]])
        assert answers == [f"{year + 1:02d}", f"{year - 1:02d}"]
        assert corrupted[8] == "01" and corrupted[:8] == clean[:8] and corrupted[9:] == clean[9:]


# ---------------------------------------------------------------- tokenizers the toolkit did not make


@pytest.fixture(scope="module")
def plus_model(tmp_path_factory):
    """A word-level vocabulary with digits, '+' and '=' but no '-'."""
    from interp.word_tokenizer import SPECIALS, word_level_tokenizer

    vocab = [*SPECIALS, *map(str, range(10)), "+", "=", "cat", "dog", "sat", "mat"]
    return tiny_model_with(word_level_tokenizer(vocab, tmp_path_factory.mktemp("plus")))


PIECES = [
    *map(str, range(10)),
    "+",
    "=",
    *(chr(ord("A") + i) for i in range(26)),
    *(WORD_START + d for d in ORDINAL_SETS["days"].members),
    WORD_START + "the",
    WORD_START + "cat",
]
"""SentencePiece-like pieces: digits, operators and capitals only bare (as llama2.c's tok512 has them),
day names only with the word-start marker, no '-'."""


@pytest.fixture(scope="module")
def piece_model(tmp_path_factory):
    return tiny_model_with(piece_tokenizer(PIECES, tmp_path_factory.mktemp("pieces")))


def pieces(model, ids):
    return model.tokenizer.convert_ids_to_tokens([int(i) for i in ids])


def check_sums(model, task, pattern, n_digits):
    """Every prompt decodes to ``pattern`` (operands, '+', result) and its result is the sum."""
    for i, row in enumerate(task.clean_tokens.tolist()):
        text = model.tokenizer.decode(row[1:])
        match = re.fullmatch(pattern, text)
        assert match, text
        a, b, c = (int(g.replace(" ", "")) for g in match.groups())
        assert a + b == c and len(match.group(3).replace(" ", "")) == n_digits + 1
        meta = task.metadata.iloc[i]
        assert (meta["a"], meta["b"], meta["op"]) == (a, b, "+")
        assert int(task.positions[i]) == 1 + 2 * n_digits + 1 + int(meta["digit"])


def test_addition_needs_only_plus_and_equals(plus_model):
    task = arithmetic_task(plus_model, n_prompts=16, n_digits=1, seed=0)
    check_sums(plus_model, task, r"(\d) \+ (\d) = (\d \d)", 1)  # "3 + 4 = 0 7"
    task = arithmetic_task(plus_model, n_prompts=16, n_digits=3, seed=1)
    check_sums(plus_model, task, r"(\d \d \d) \+ (\d \d \d) = (\d \d \d \d)", 3)
    for operation in ("sub", "mixed"):
        with pytest.raises(ValueError, match=r"'-' \(operator\) is not a single token"):
            arithmetic_task(plus_model, operation=operation)


def test_bare_digit_pieces_write_sums_as_running_text(piece_model):
    """Digits and operators exist only as pieces inside a word: '3' alone becomes '▁ 3', yet the
    prompts use the bare pieces and read as the tokenizer writes '352+417=0769'."""
    assert pieces(piece_model, piece_model.to_tokens("3", prepend_bos=False)[0]) == [WORD_START, "3"]
    assert pieces(piece_model, [word_token(piece_model, "3"), word_token(piece_model, "Monday")]) == [
        "3",
        WORD_START + "Monday",
    ]
    task = arithmetic_task(piece_model, n_prompts=16, n_digits=3, seed=0)
    check_sums(piece_model, task, r"(\d{3})\+(\d{3})=(\d{4})", 3)
    text = piece_model.tokenizer.decode(task.clean_tokens[0, 1:].tolist())
    assert task.clean_tokens[0, 1:].tolist() == piece_model.to_tokens(text, prepend_bos=False)[0, 1:].tolist()
    with pytest.raises(ValueError, match=r"'-' \(operator\)"):
        arithmetic_task(piece_model, operation="sub")


def test_successor_sets_are_the_ones_the_tokenizer_spells(piece_model):
    sets = expressible_sets(piece_model)
    assert list(sets) == ["numbers", "days", "letters"]
    assert pieces(piece_model, sets["numbers"][0]) == [str(i) for i in range(1, 10)]  # 1-9: cut short
    assert pieces(piece_model, sets["days"][0]) == [WORD_START + d for d in ORDINAL_SETS["days"].members]
    assert pieces(piece_model, sets["letters"][0]) == list(ORDINAL_SETS["letters"].members)
    assert sets["days"][1] and not sets["letters"][1]
    task = successor_task(piece_model, n_prompts=30, seed=0)
    assert set(task.metadata["set"]) == {"numbers", "days", "letters"}
    for i, row in task.metadata.iterrows():
        members = [p.lstrip(WORD_START) for p in pieces(piece_model, task.clean_tokens[i, 1:])]
        s = ORDINAL_SETS[row["set"]]
        assert [s.successor(m) for m in members[:-1]] == members[1:]  # consecutive members shown
        assert pieces(piece_model, [task.answer_tokens[i]])[0].lstrip(WORD_START) == s.successor(members[-1])
    with pytest.raises(ValueError, match=r"'10' \(member of set 'numbers'\) is not a single token"):
        successor_task(piece_model, sets=("numbers",))  # named sets must be whole
    with pytest.raises(ValueError, match="expresses none of the ordinal sets.*'Monday'"):
        expressible_sets(tiny_model("gpt2"), ["days", "months"])


def test_a_vocabulary_without_words_gets_token_needles(gpt2_tiny):
    from circuits.tasks.registry import task_for

    with pytest.raises(ValueError, match="does not know 'The'"):
        retrieval_task(gpt2_tiny, context_len=32)
    task = task_for(gpt2_tiny, "retrieval", n_prompts=10, seed=0)
    again = task_for(gpt2_tiny, "retrieval", n_prompts=10, seed=0)
    assert torch.equal(task.clean_tokens, again.clean_tokens) and task.clean_tokens.shape == (10, 32 - 8)
    assert set(task.metadata["form"]) == {"tokens"}
    keys = {int(t) for t in task.clean_tokens[:, -1]}
    values = {int(t) for t in task.answer_tokens} | {int(t) for t in task.wrong_tokens}
    questions = {int(t) for t in task.clean_tokens[:, -2]}
    assert len(questions) == 1 and not keys & values and not (keys | values) & questions
    for i, row in task.metadata.iterrows():
        prompt, p = task.clean_tokens[i].tolist(), int(row["needle_pos"])
        assert prompt[p] == prompt[-1] and prompt.count(prompt[-1]) == 2  # the asked key, then the question
        assert task.answer_tokens[i] == prompt[p + 1] and prompt.count(prompt[p + 1]) == 1
        assert task.corrupted_tokens[i, p + 1] == task.wrong_tokens[i] != task.answer_tokens[i]
        assert prompt.count(prompt[-2]) == 1  # the question token is nowhere in the haystack
    small = tiny_model_with(piece_tokenizer(list("abcdefgh")))  # and the word-start piece
    with pytest.raises(ValueError, match="has 9 ordinary tokens; token needles need at least 17"):
        retrieval_task(small, form="tokens", context_len=32)


def test_real_tokenizer_llama2c_digits_and_letters(stories260k):
    """tok512 spells digits, '+' and capitals as bare pieces and '=' as a byte piece; the default tasks
    use them."""
    from circuits.tasks.registry import task_for

    task = task_for(stories260k, "arithmetic", n_prompts=8, seed=0)
    text = stories260k.tokenizer.decode(task.clean_tokens[0, 1:].tolist())
    assert re.fullmatch(r"\d{3}\+\d{3}=\d{4}", text), text
    sets = expressible_sets(stories260k)
    assert sorted(sets) == ["letters", "numbers"] and len(sets["numbers"][0]) == 9
    assert stories260k.tokenizer.decode(sets["letters"][0]) == "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    task = task_for(stories260k, "retrieval", n_prompts=2, seed=0)
    assert set(task.metadata["form"]) == {"text"}
    # Pieces joined into one prompt keep one space between them, not SentencePiece's doubled one.
    assert WORD_START not in pieces(stories260k, task.clean_tokens[0, 1:2])
