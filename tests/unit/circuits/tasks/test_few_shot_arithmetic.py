"""Few-shot arithmetic prompts, and the arithmetic finder on a model that solves no form of it."""

import pytest

from circuits.heads import find_heads
from circuits.heads.arithmetic_forms import FORMS, solved_arithmetic_task
from circuits.tasks import few_shot_arithmetic_task
from interp.testing import piece_tokenizer, tiny_model_with

DIGITS = [str(d) for d in range(10)]


@pytest.fixture(scope="module")
def model():
    pieces = [*DIGITS, *("\u2581" + d for d in DIGITS), "\u2581+", "\u2581-", "\u2581=", "\n"]
    return tiny_model_with(piece_tokenizer(pieces), n_ctx=128)


@pytest.mark.parametrize(("operation", "op"), [("add", "+"), ("sub", "-")])
def test_prompts_are_solved_examples_then_a_problem_whose_first_result_digit_is_asked(model, operation, op):
    task = few_shot_arithmetic_task(model, n_prompts=12, n_digits=2, shots=3, operation=operation, seed=3)
    decode = model.tokenizer.decode
    assert len({len(p) for p in task.clean_tokens}) == 1
    for i, row in task.metadata.iterrows():
        text = decode(task.clean_tokens[i], skip_special_tokens=True)
        *examples, problem = text.split("\n")
        assert len(examples) == 3 and problem == f"{row['a']} {op} {row['b']} ="
        for example in examples:
            left, result = example.split(" = ")
            x, y = map(int, left.split(f" {op} "))
            assert int(result) == (x + y if op == "+" else x - y) and len(result) == 2
        result = row["a"] + row["b"] if op == "+" else row["a"] - row["b"]
        assert decode([int(task.answer_tokens[i])]).strip() == str(result)[0]
        assert task.wrong_tokens[i] != task.answer_tokens[i]
        twin = decode(task.corrupted_tokens[i], skip_special_tokens=True)
        assert twin.split("\n")[:3] == examples and twin != text
        operands = task.clean_tokens[i, row["operand_start"] : row["operand_end"]]
        assert decode(operands).strip() == f"{row['a']} {op} {row['b']}".strip()


def test_bad_arguments_are_named(model):
    with pytest.raises(ValueError, match="unknown operation 'mul'"):
        few_shot_arithmetic_task(model, operation="mul")
    with pytest.raises(ValueError, match="shots >= 0"):
        few_shot_arithmetic_task(model, shots=-1)


def test_a_model_that_solves_no_form_names_no_arithmetic_heads_and_says_why(model):
    with pytest.raises(ValueError, match="solves none of the arithmetic forms") as err:
        solved_arithmetic_task(model, n_prompts=8)
    for name, _ in FORMS:
        assert name in str(err.value)
    scores = find_heads(model, ["induction", "arithmetic"], skip_unsupported=True)
    assert "solves none" in scores.skipped["arithmetic"]
    assert "arithmetic" not in scores.kinds
