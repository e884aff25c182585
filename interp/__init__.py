"""interp: models for mechanistic interpretability.

Load any supported model as a :class:`HookedModel` with TransformerLens hooks,
a canonical per-head weights view, and an nnsight view.

Example:
    >>> from interp.testing import tiny_model
    >>> model = tiny_model("llama")
    >>> model.weights.W_K.shape[1] == model.n_heads
    True
"""

from interp.hooked_model import HookedModel as HookedModel
from interp.hooked_model import ModelSummary as ModelSummary
from interp.loading import load_model as load_model
from interp.weights import ModelWeights as ModelWeights

__all__ = ["HookedModel", "ModelSummary", "ModelWeights", "load_model"]
