"""The batched intervention engine: patching sweeps with far less work than one forward per cell.

``Engine`` computes from the canonical weights (GPT-2, GPT-NeoX, Llama with
grouped-query attention, the zoo); ``HookEngine`` runs the same cells as
TransformerLens hooks on the bridge, as a fallback and as the slow twin.
:func:`engine_for` picks one for a model.
"""

from typing import Any

import torch

from interp.engine.core import DEFAULT_MEMORY_BUDGET, Engine
from interp.engine.hooks import HookEngine, patch_hooks
from interp.engine.metrics import Metric, MetricFn, accuracy, answer_prob, as_metric, kl_to_clean, logit_diff
from interp.engine.patches import SITES, Patch, Site, hook_name
from interp.engine.trace import Trace

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "SITES",
    "Engine",
    "HookEngine",
    "Metric",
    "MetricFn",
    "Patch",
    "Site",
    "Trace",
    "accuracy",
    "answer_prob",
    "as_metric",
    "engine_for",
    "hook_name",
    "kl_to_clean",
    "logit_diff",
    "patch_hooks",
]


def engine_for(
    model: Any,
    *,
    backend: str = "auto",
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    dtype: torch.dtype | None = None,
) -> Engine | HookEngine:
    """The engine for ``model`` (a :class:`~interp.HookedModel`).

    Args:
        model: The model.
        backend: ``"auto"`` (fast engine when the architecture has a canonical-weights
            adapter, hooks otherwise), ``"fast"`` or ``"hooks"``.
        memory_budget: Bytes one chunk of cells may use (fast engine).
        dtype: Compute dtype for the fast engine (default: the model's).
    """
    if backend not in ("auto", "fast", "hooks"):
        raise ValueError(f"unknown backend {backend!r}; expected 'auto', 'fast' or 'hooks'")
    if backend == "hooks":
        return HookEngine(model)
    try:
        weights = model.weights
    except ValueError:
        if backend == "fast":
            raise
        return HookEngine(model)
    return Engine(weights, device=model.device, dtype=dtype, memory_budget=memory_budget)
