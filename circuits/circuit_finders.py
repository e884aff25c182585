"""The registry of circuit finders: callables ``(model, task) -> [layer, head]`` scores, higher =
more likely in the circuit.

Registered: ``sae`` (:mod:`circuits.sae_circuits`), ``activation_patching`` (|normalised effect of
denoising each head's ``z``|), ``eap`` and ``eap_ig`` (sum of |edge attribution| over each head's
outgoing edges, :mod:`circuits.attribution_patching`, 1 and 5 integration steps).
:func:`register_finder` adds one; :func:`circuits.evaluation.compare_finders` runs them side by side.
"""

from collections.abc import Callable

import torch
from torch import Tensor

from circuits.activation_patching import activation_patching
from circuits.attribution_patching import attribution_patching
from circuits.circuit_metrics import CircuitTask
from circuits.heads.scores import head_name
from circuits.sae_circuits import find_sae_circuit, task_prompt_sets
from interp import HookedModel

Finder = Callable[[HookedModel, CircuitTask], Tensor]
"""``(model, task) -> [layer, head]`` scores, higher = more likely in the circuit."""


class FinderUnavailable(ImportError):
    """A registered finder whose implementation is not importable here."""


def _sae_finder(model: HookedModel, task: CircuitTask) -> Tensor:
    positives, negatives = task_prompt_sets(task, model)
    return find_sae_circuit(model, positives, negatives, progress=False).node_scores


def _activation_patching_finder(model: HookedModel, task: CircuitTask) -> Tensor:
    r = activation_patching(
        model, task.clean_tokens, task.corrupted_tokens, task.metric, site="z", progress=False
    )
    return r.normalized().abs().float()


def _eap_head_scores(model: HookedModel, task: CircuitTask, ig_steps: int) -> Tensor:
    r = attribution_patching(
        model, task.clean_tokens, task.corrupted_tokens, task.metric, level="edge", ig_steps=ig_steps
    )
    senders = r.labels["sender"]
    outgoing = r.scores.abs().nan_to_num(0.0).sum(-1)  # [sender]
    grid = torch.zeros(model.n_layers, model.n_heads)
    for layer in range(model.n_layers):
        for head in range(model.n_heads):
            grid[layer, head] = outgoing[senders.index(head_name(layer, head))]
    return grid


FINDERS: dict[str, Finder] = {
    "sae": _sae_finder,
    "activation_patching": _activation_patching_finder,
    "eap": lambda model, task: _eap_head_scores(model, task, ig_steps=1),
    "eap_ig": lambda model, task: _eap_head_scores(model, task, ig_steps=5),
}
"""Finders by name. ``eap``: 1 step; ``eap_ig``: 5 integration steps (Hanna et al.'s typical m)."""


def register_finder(name: str, finder: Finder) -> None:
    """Add (or replace) a finder of the registry."""
    if not callable(finder):
        raise TypeError(
            f"a finder is a callable (model, task) -> [layer, head] scores; got {type(finder).__name__}"
        )
    FINDERS[name] = finder
