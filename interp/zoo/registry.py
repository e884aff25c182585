"""Where zoo checkpoints live and which names exist.

A zoo model is a Hugging Face checkpoint directory ``data/zoo/NAME/`` holding
``config.json``, the weights, a saved tokenizer and ``card.json`` (its task,
recipe, accuracy and heads by role). ``load_model("zoo:NAME")`` reads it
through the same path as any local directory.
"""

import json
from pathlib import Path
from typing import Any

ZOO_DIR = Path(__file__).resolve().parents[2] / "data" / "zoo"
"""The folder of shipped zoo checkpoints."""


def zoo_names() -> list[str]:
    """Names of the zoo checkpoints present on disk (each folder with a ``card.json``)."""
    if not ZOO_DIR.is_dir():
        return []
    return sorted(p.name for p in ZOO_DIR.iterdir() if (p / "card.json").is_file())


def zoo_path(name: str) -> Path:
    """The checkpoint directory of zoo model ``name``.

    Raises:
        ValueError: When no such zoo model exists, listing the ones that do.
    """
    names = zoo_names()
    if name not in names:
        raise ValueError(f"unknown zoo model {name!r}; expected one of {names}")
    return ZOO_DIR / name


def zoo_card(name: str) -> dict[str, Any]:
    """The card of zoo model ``name``: task, recipe, accuracy and heads by role."""
    return json.loads((zoo_path(name) / "card.json").read_text())
