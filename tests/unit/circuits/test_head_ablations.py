"""head_ablations: one engine sweep gives the numbers the hook-based ablation study gives, set by set."""

import pytest
import torch

from circuits.ablation import ablation_study
from circuits.head_ablations import N_SE, NEEDED_DROP, ROLES, head_ablations
from circuits.tasks import induction_task
from interp.engine import logit_diff
from interp.testing import tiny_model

FP32_TOL = 1e-5


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_every_row_equals_the_hook_ablation_of_that_set(arch):
    model = tiny_model(arch)
    task = induction_task(model, n_prompts=6, seed=1)
    heads = [(0, 1), (1, 0)]
    metric = logit_diff(task.answer_tokens, task.wrong_tokens, task.positions[:, None])
    fast = head_ablations(model, heads, task, metric=metric, n_random=3, seed=2)

    def by_hooks(logits):
        rows = torch.arange(logits.shape[0])
        picked = logits[rows, task.positions]
        return picked[rows, task.answer_tokens] - picked[rows, task.wrong_tokens]

    for head_set in (heads, [heads[0]], [heads[1]]):
        slow = ablation_study(model, head_set, task.clean_tokens, by_hooks, mode="mean", n_random=0)
        row = fast.df[fast.df["heads"] == slow.df["heads"].item()].iloc[0]
        assert row["baseline"] == pytest.approx(slow.df["baseline"].item(), abs=FP32_TOL)
        assert row["ablated"] == pytest.approx(slow.df["ablated"].item(), abs=FP32_TOL)
    control = ablation_study(model, heads, task.clean_tokens, by_hooks, mode="mean", n_random=3, seed=2)
    assert fast.random_values["L0H1,L1H0"] == pytest.approx(control.random_values["L0H1,L1H0"], abs=FP32_TOL)


def test_roles_follow_the_numbers():
    model = tiny_model("gpt2")
    task = induction_task(model, n_prompts=6, seed=1)
    result = head_ablations(model, [(0, 0), (1, 1)], task, n_random=3)
    df = result.df
    assert set(df["role"]) <= set(ROLES)
    together, alone = df.iloc[0], df.iloc[1:]
    draws = result.random_values[together["heads"]]
    assert (together["role"] == "beats random") == (together["ablated"] < min(draws))
    for _, row in alone.iterrows():
        drop = row["baseline"] - row["ablated"]
        needed = drop >= NEEDED_DROP * abs(row["baseline"]) and drop > max(0.0, N_SE * row["drop_se"])
        assert (row["role"] == "needed alone") == needed
        if not needed:
            assert row["role"] == (
                "backup or redundant" if together["role"] == "beats random" else "not needed"
            )


def test_bad_heads_are_refused():
    model = tiny_model("gpt2")
    task = induction_task(model, n_prompts=2)
    with pytest.raises(ValueError, match="no heads to ablate"):
        head_ablations(model, [], task)
    with pytest.raises(ValueError, match="layer"):
        head_ablations(model, [(9, 0)], task)
