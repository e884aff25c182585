"""Retrieval heads: Wu et al.'s copy-paste score, on hand-built heads and a hooked model."""

import pytest
import torch

from circuits.heads.retrieval import copy_paste_scores, retrieval_scores, rouge1_recall
from interp.testing import tiny_model


def test_a_head_that_copies_the_needle_scores_one_and_others_zero():
    prompt = torch.tensor([[1, 9, 9, 40, 41, 42, 9, 9]])
    generated = torch.tensor([[40, 41, 42]])
    argmax = torch.zeros(1, 1, 3, 3, dtype=torch.long)
    argmax[0, 0, 0] = torch.tensor([3, 4, 5])  # copies each needle token as it is emitted
    argmax[0, 0, 1] = torch.tensor([3, 3, 3])  # stares at the needle start: 1 of 3 steps match
    # head 2 attends to position 0 (a uniform head's argmax): never in the needle
    scores = copy_paste_scores(argmax, generated, prompt, [(3, 6)])
    assert scores[0, 0].tolist() == pytest.approx([1.0, 1 / 3, 0.0])


def test_a_needle_token_copied_twice_counts_once():
    prompt = torch.tensor([[1, 9, 40, 41, 9]])
    generated = torch.tensor([[40, 41, 40, 41]])  # the model answers, then repeats itself
    argmax = torch.tensor([[[[2, 3, 2, 3], [2, 2, 2, 2]]]])
    scores = copy_paste_scores(argmax, generated, prompt, [(2, 4)])
    assert scores[0, 0].tolist() == pytest.approx([1.0, 0.5])


def test_steps_after_stopping_do_not_count():
    prompt = torch.tensor([[1, 40, 41]])
    argmax = torch.tensor([[[[1, 2]]]])
    stopped = torch.tensor([[0, 1]])
    scores = copy_paste_scores(argmax, torch.tensor([[40, 41]]), prompt, [(1, 3)], stopped)
    assert scores.item() == pytest.approx(0.5)


def test_rouge1_recall_counts_multiplicity():
    assert rouge1_recall([5, 6, 7], [5, 6]) == 1.0
    assert rouge1_recall([5], [5, 5]) == 0.5
    with pytest.raises(ValueError, match="reference answer is empty"):
        rouge1_recall([1], [])


def test_bad_needle_span_is_named():
    with pytest.raises(ValueError, match="needle spans must satisfy"):
        copy_paste_scores(
            torch.zeros(1, 1, 1, 1, dtype=torch.long),
            torch.zeros(1, 1, dtype=torch.long),
            torch.zeros(1, 4, dtype=torch.long),
            [(3, 2)],
        )


@pytest.fixture(scope="module")
def model():
    return tiny_model("gpt2")


def hooked_copier(model, prompts, spans, copier=(1, 2)):
    """Hooks that make the model emit each needle in turn and head `copier` attend to it.

    Every other head keeps the model's own attention; head (0, 1) is made uniform.
    """
    length = prompts.shape[1]

    def emit_needle(logits, hook):
        step = logits.shape[1] - length
        forced = torch.full_like(logits[:, -1], -1e4)
        for row, (s0, s1) in enumerate(spans):
            target = prompts[row, s0 + step] if step < s1 - s0 else 2  # then EOS
            forced[row, target] = 1e4
        logits[:, -1] = forced
        return logits

    def copy_from_needle(pattern, hook):
        step = pattern.shape[-1] - length
        layer, head = copier
        if hook.name == f"blocks.{layer}.attn.hook_pattern":
            row = torch.zeros_like(pattern[:, head, -1])
            for b, (s0, s1) in enumerate(spans):
                row[b, s0 + min(step, s1 - s0 - 1)] = 1.0
            pattern[:, head, -1] = row
        if hook.name == "blocks.0.attn.hook_pattern":
            n = pattern.shape[-1]
            pattern[:, 1] = torch.ones(n, n).tril() / torch.arange(1, n + 1)[:, None]
        return pattern

    return [
        ("unembed.hook_out", emit_needle),
        ("blocks.0.attn.hook_pattern", copy_from_needle),
        (f"blocks.{copier[0]}.attn.hook_pattern", copy_from_needle),
    ]


def needle_prompts() -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """Three random prompts (BOS first), each with a three-token needle at its own span."""
    g = torch.Generator().manual_seed(0)
    prompts = torch.randint(4, 40, (3, 12), generator=g)
    prompts[:, 0] = 1
    spans = [(3, 6), (5, 8), (7, 10)]
    for row, (s0, s1) in enumerate(spans):
        prompts[row, s0:s1] = torch.tensor([50, 51, 52]) + row
    return prompts, spans


def test_retrieval_scores_find_a_hand_built_copy_head_through_the_model(model):
    prompts, spans = needle_prompts()
    answers = [prompts[row, s0:s1].tolist() for row, (s0, s1) in enumerate(spans)]
    with model.bridge.hooks(fwd_hooks=hooked_copier(model, prompts, spans)):
        scores = retrieval_scores(model, list(prompts), spans, answers, max_new_tokens=6)
    grid = scores.grid("retrieval")
    assert grid[1, 2].item() >= 0.9
    assert grid[0, 1].item() <= 0.1
    assert (1, 2) in scores.heads("retrieval")
    assert scores.df["recall"].iloc[0] == pytest.approx(1.0)


def test_a_model_that_fails_most_needles_has_no_retrieval_heads(model):
    """The copy head still scores on the one recalled needle, but 1 of 3 is too few to call it."""
    prompts, spans = needle_prompts()
    answers = [prompts[0, 3:6].tolist(), [60, 61, 62], [60, 61, 62]]
    with model.bridge.hooks(fwd_hooks=hooked_copier(model, prompts, spans)):
        scores = retrieval_scores(model, list(prompts), spans, answers, max_new_tokens=6)
    assert scores.grid("retrieval")[1, 2].item() >= 0.9
    assert scores.df["recall"].iloc[0] == pytest.approx(1 / 3)
    assert scores.heads("retrieval") == []


def test_a_model_that_never_recalls_the_needle_is_refused(model):
    prompts = [torch.tensor([1, 5, 6, 50, 51, 7])]
    with pytest.raises(ValueError, match="no instance recalls its needle"):
        retrieval_scores(model, prompts, [(3, 5)], [[50, 51]], max_new_tokens=2)


def test_mismatched_inputs_are_named(model):
    with pytest.raises(ValueError, match="1 prompts, 2 spans"):
        retrieval_scores(model, [torch.tensor([1, 5])], [(0, 1), (0, 1)], [[5]])


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_cached_decoding_equals_rerunning_the_bridge_at_every_step(arch):
    from circuits.heads.retrieval import greedy_decode_with_attention, greedy_decode_with_attention_hooks
    from interp.testing import tiny_model

    model = tiny_model(arch)
    tokens = torch.randint(4, 60, (3, 12), generator=torch.Generator().manual_seed(0))
    fast = greedy_decode_with_attention(model, tokens, 6, stop_tokens=[5])
    slow = greedy_decode_with_attention_hooks(model, tokens, 6, stop_tokens=[5])
    for a, b in zip(fast, slow, strict=True):
        assert torch.equal(a, b)
