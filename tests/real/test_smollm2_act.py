"""ACT on SmolLM2-135M: calibrating the heads its head filter chose for IOI helps on held-out prompts.

The heads are the five largest gains of ``select_act_heads(model, evidence_task(model, "ioi",
n_prompts=16, seed=0))`` over all 270 heads (about 4 minutes on one core, so not rerun here): L29H0,
L12H5, L13H5, L19H4, L17H8. Measured on 32 held-out prompts (seed 1): accuracy 0.81 -> 0.97 and
logit difference 4.73 -> 6.04; three random sets of five heads calibrated the same way: 0.81-0.88
and 4.45-4.76.
"""

import pandas as pd
import pytest

from circuits.attention_sinks import act_study, find_sinks
from circuits.evidence import evidence_task
from circuits.heads.scores import head_name

pytestmark = [pytest.mark.real, pytest.mark.slow]

CHOSEN = [(29, 0), (12, 5), (13, 5), (19, 4), (17, 8)]


def test_calibrating_the_chosen_heads_beats_calibrating_random_heads_on_held_out_ioi(smollm2):
    heldout = evidence_task(smollm2, "ioi", n_prompts=32, seed=1)
    selection = [
        {"layer": la, "head": h, "label": head_name(la, h), "gain": 1.0, "selected": True} for la, h in CHOSEN
    ]
    result = act_study(
        smollm2, heldout, heldout, selection=pd.DataFrame(selection), n_random=3, progress=False
    )
    df = result.df.set_index("condition")
    assert df.loc["act", "accuracy"] >= df.loc["none", "accuracy"] + 0.1
    assert df.loc["act", "logit_diff"] >= df.loc["none", "logit_diff"] + 1.0
    random = df.drop(index=["none", "act"])
    assert (random["logit_diff"] < df.loc["act", "logit_diff"] - 1.0).all()


def test_every_head_has_the_first_token_as_its_main_sink_and_later_sinks_exist(smollm2):
    task = evidence_task(smollm2, "ioi", n_prompts=8, seed=1)
    summary = find_sinks(smollm2, task.clean_tokens).summary()
    assert summary["first_score"].mean() > 0.4
    assert (summary["later_sinks"] > 0).mean() > 0.5
