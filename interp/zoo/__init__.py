"""The model zoo: small trained transformers with documented heads, loadable as ``zoo:NAME``.

- :func:`zoo_names`, :func:`zoo_path`, :func:`zoo_card`: the shipped checkpoints and their cards;
- :data:`RECIPES` and :func:`train`: rebuild a zoo model from its recipe
  (``python -m interp.zoo.train NAME``);
- :func:`verify`: measure a checkpoint's tasks and heads by ablation and write its card.
"""

from interp.zoo.registry import ZOO_DIR as ZOO_DIR
from interp.zoo.registry import zoo_card as zoo_card
from interp.zoo.registry import zoo_names as zoo_names
from interp.zoo.registry import zoo_path as zoo_path
from interp.zoo.train import RECIPES as RECIPES
from interp.zoo.train import Recipe as Recipe
from interp.zoo.train import train as train
from interp.zoo.verify import verify as verify
