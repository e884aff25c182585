"""Training the model zoo and verifying its cards (the checkpoints themselves load through
:mod:`interp.zoo`).

- :data:`RECIPES` and :func:`train`: rebuild a zoo model from its recipe
  (``python -m circuits.zoo.train NAME``);
- :func:`verify`: measure a checkpoint's tasks and heads by ablation and write its card.
"""

from circuits.zoo.train import RECIPES as RECIPES
from circuits.zoo.train import Recipe as Recipe
from circuits.zoo.train import train as train
from circuits.zoo.verify import verify as verify
