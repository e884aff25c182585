"""interp: models for mechanistic interpretability.

Load any supported model as a :class:`HookedModel` with TransformerLens hooks,
a canonical per-head weights view, and an nnsight view.

The names below load on first use, so that ``import interp.console`` (the command line's
entry point) starts in milliseconds and can answer Ctrl-C during torch's import.

Example:
    >>> from interp.testing import tiny_model
    >>> model = tiny_model("llama")
    >>> model.weights.W_K.shape[1] == model.n_heads
    True
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from interp.hooked_model import HookedModel, ModelSummary
    from interp.loading import load_model
    from interp.weights import ModelWeights

_EXPORTS = {
    "HookedModel": "interp.hooked_model",
    "ModelSummary": "interp.hooked_model",
    "load_model": "interp.loading",
    "ModelWeights": "interp.weights",
}
"""Each public name and the module that defines it."""

__all__ = ["HookedModel", "ModelSummary", "ModelWeights", "load_model"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'interp' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
