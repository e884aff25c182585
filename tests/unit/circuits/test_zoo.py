"""Zoo registry, recipes, vocabulary and a few-step training smoke test (never a full retrain)."""

import json

import pytest
import torch

from circuits.tasks.zoo_vocab import zoo_tokenizer, zoo_words
from circuits.zoo import RECIPES, train
from circuits.zoo.train import TaskSampler, build_model
from interp import load_model
from interp.zoo import ZOO_DIR, zoo_card, zoo_names, zoo_path

MAX_BYTES = 5 * 1024 * 1024


def test_every_recipe_is_shipped_with_a_card_under_5_mb():
    assert set(RECIPES) <= set(zoo_names())
    for name in RECIPES:
        folder = zoo_path(name)
        weights = folder / "model.safetensors"
        assert weights.is_file() and weights.stat().st_size < MAX_BYTES
        assert sum(f.stat().st_size for f in folder.iterdir()) < MAX_BYTES
        card = zoo_card(name)
        assert card["recipe"]["seed"] == RECIPES[name].seed and card["recipe"]["steps"] == RECIPES[name].steps
        assert set(card["accuracy"]) == {t.name for t in RECIPES[name].tasks}
        assert (folder / "card.md").read_text().startswith(f"# zoo:{name}")
        assert (folder / "tokenizer.json").is_file()


def test_unknown_zoo_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown zoo model 'nope'; expected one of"):
        zoo_path("nope")
    with pytest.raises(ValueError, match="unknown zoo recipe 'nope'"):
        train("nope")


def test_zoo_vocabulary_is_word_level():
    tok = zoo_tokenizer()
    ids = tok("Monday next 7 + garden is apple ?")["input_ids"]
    assert ids[0] == 1 and len(ids) == 9 and tok.unk_token_id not in ids
    assert len(zoo_words()) == len(tok)


def test_attention_only_layers_add_nothing():
    recipe = RECIPES["organism"]
    model = build_model(recipe)
    mlp = model.transformer.h[recipe.attn_only_layers[0]].mlp
    assert all(not p.requires_grad and not p.any() for p in mlp.parameters())
    x = torch.randn(2, 5, recipe.d_model)
    assert torch.equal(mlp(x), torch.zeros_like(x))


def test_samplers_mask_only_determined_positions():
    import numpy as np

    for spec in RECIPES["organism"].tasks:
        tokens, mask = TaskSampler(spec, np.random.default_rng(0)).sample(4)
        assert tokens.shape == mask.shape and (tokens[:, 0] == 1).all()
        assert mask.any(1).all() and not mask[:, -1].any()


def test_training_smoke(tmp_path):
    torch.set_num_threads(1)
    out = train("induction-2l", tmp_path / "m", steps=3, verify=False, progress=False)
    card = json.loads((out / "card.json").read_text())
    assert card["recipe"]["steps"] == 3 and len(card["training"]["log"]) == 1
    model = load_model(str(out), device="cpu")
    assert model.n_layers == 2 and model.d_vocab == len(zoo_words())
    assert out.parent != ZOO_DIR


def test_digit_drops_read_each_result_digit_undiluted():
    from types import SimpleNamespace

    import pandas as pd

    from circuits.zoo.verify import digit_drops

    task = SimpleNamespace(metadata=pd.DataFrame({"digit": [0, 0, 1, 1, 2, 2]}))
    base = torch.ones(6), torch.tensor([4.0, 4.0, 2.0, 2.0, -1.0, -1.0])
    ablated = torch.tensor([1.0, 1.0, 0.0, 1.0, 1.0, 1.0]), torch.tensor([4.0, 4.0, 1.0, 1.0, -9.0, -9.0])
    drops = digit_drops(task, base, ablated)
    # digit 1 loses half its accuracy and half its logit difference; the pooled drops would be 1/6
    # and 1/4. Digit 2 is not solved (negative logit difference), so it has no share to lose.
    assert drops == {"accuracy_drop_digit": 0.5, "logit_diff_share_digit": 0.5}
