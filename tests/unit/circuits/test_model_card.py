"""A card made by verification alone: on a zoo model it finds the heads the zoo's own card documents."""

import json

import pytest

from circuits.cli.main import main
from circuits.model_card import card_markdown, model_card
from interp import load_model
from interp.zoo.registry import zoo_card

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def card():
    model = load_model("zoo:induction-2l", device="cpu")
    return model_card(model, tasks=["induction", "ioi"], n_prompts=32, progress=False)


def test_the_card_names_the_documented_heads_and_their_communication(card):
    documented = zoo_card("induction-2l")["heads"]
    assert {role: sorted(h) for role, h in card["heads"].items()} == {
        role: sorted(h) for role, h in documented.items()
    }
    assert set(card["skipped"]) == {"ioi"} and "not a single token" in card["skipped"]["ioi"]
    comm = card["communication"]
    assert comm["senders"] == documented["previous_token"]
    assert all(p["measured"] > 0 for p in comm["pairs"])
    md = card_markdown(card)
    assert "## Communication: previous-token heads to induction heads" in md and "No head finder" in md
    json.dumps(card)


def test_interp_card_writes_json_and_markdown(tmp_path, capsys):
    out = tmp_path / "card"
    args = ["card", "zoo:induction-2l", "--device", "cpu", "--tasks", "induction", "--n-prompts", "16"]
    assert main([*args, "--out-dir", str(out)]) == 0
    written = json.loads((out / "card.json").read_text())
    assert list(written["accuracy"]) == ["induction"] and (out / "card.md").read_text().startswith("# zoo:")
    assert main(["card", "zoo:induction-2l", "--tasks", "sorting", "--out-dir", str(out)]) == 2
    assert "unknown card task(s) ['sorting']" in capsys.readouterr().err
