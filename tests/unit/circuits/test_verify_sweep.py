"""The verification's single-head ablations: the engine sweep equals one hooked forward per head."""

import pytest
import torch

from circuits.tasks import induction_task, zoo_task
from circuits.zoo.verify import pattern_scores, single_head_scores
from interp import load_model
from interp.testing import tiny_model
from interp.zoo.registry import zoo_card

TOL = 1e-5


def _agree(model, task, reference):
    fast_acc, fast_ld = single_head_scores(model, task, reference, backend="fast")
    slow_acc, slow_ld = single_head_scores(model, task, reference, backend="hooks")
    assert fast_ld.shape == (model.n_layers * model.n_heads, len(task))
    torch.testing.assert_close(fast_ld, slow_ld, atol=TOL, rtol=TOL)
    # Accuracy is an argmax: it may differ only where the two top logits are within the tolerance.
    assert (fast_acc != slow_acc).float().mean() <= 0.02


def test_single_head_ablations_of_a_zoo_task_agree_with_the_hook_loop():
    model = load_model("zoo:induction-2l", device="cpu")
    spec = zoo_card("induction-2l")["tasks"][0]
    task = zoo_task(model, spec["name"], spec["kwargs"], n_prompts=16, seed=0)
    reference = zoo_task(model, spec["name"], spec["kwargs"], n_prompts=16, seed=1)
    _agree(model, task, reference.clean_tokens)


@pytest.mark.parametrize("arch", ["llama", "neox"])
def test_single_head_ablations_agree_on_tiny_models_with_a_reference_of_another_length(arch):
    torch.manual_seed(0)
    model = tiny_model(arch)
    task = induction_task(model, n_prompts=6, seq_len=8, span=(2, 4), seed=0)
    # A reference of another length: the means are over its prompts and positions.
    reference = induction_task(model, n_prompts=4, seq_len=10, span=(2, 4), seed=1)
    assert reference.clean_tokens.shape[1] != task.clean_tokens.shape[1]
    _agree(model, task, reference.clean_tokens)


def test_pattern_scores_of_an_ioi_task_read_attention_to_the_indirect_object(tmp_path):
    from circuits.tasks.ioi import ioi_task
    from interp.testing import tiny_model_with
    from interp.word_tokenizer import SPECIALS, word_level_tokenizer

    words = [*SPECIALS, *"Mary John Tom Anna When and went to the store, gave a drink".split()]
    model = tiny_model_with(word_level_tokenizer(words, tmp_path))
    task = ioi_task(model, n_prompts=8, names=("Mary", "John", "Tom", "Anna"))
    df = pattern_scores(model, task)
    _, cache = model.run_with_cache(task.clean_tokens, names_filter=["blocks.0.attn.hook_pattern"])
    pattern = cache["blocks.0.attn.hook_pattern"]
    io = (task.clean_tokens == task.answer_tokens[:, None]).int().argmax(1)
    assert (task.clean_tokens[torch.arange(8), io] == task.answer_tokens).all()
    expected = pattern[torch.arange(8), 0, task.positions, io].mean()
    assert float(df.loc[0, "ioi"]) == pytest.approx(float(expected), abs=TOL)
