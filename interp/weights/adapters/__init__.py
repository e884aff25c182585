"""Per-architecture weight adapters and their registry."""

from typing import Any

from interp.weights.adapters import gpt2, gpt_neox, llama
from interp.weights.adapters.base import ModelFacts as ModelFacts
from interp.weights.adapters.base import WeightAdapter as WeightAdapter

ADAPTERS: dict[str, WeightAdapter] = {
    model_type: module.ADAPTER
    for module in (gpt2, gpt_neox, llama)
    for model_type in module.ADAPTER.model_types
}
"""Adapters by Hugging Face ``model_type``."""


def adapter_for(config: Any) -> WeightAdapter:
    """The adapter for a Hugging Face config.

    Raises:
        ValueError: When no adapter reads ``config.model_type``.
    """
    model_type = getattr(config, "model_type", None)
    if model_type not in ADAPTERS:
        raise ValueError(
            f"no weight adapter for model_type {model_type!r}; expected one of {sorted(ADAPTERS)}"
        )
    return ADAPTERS[model_type]
