"""The slow twin and fallback of the engine: every cell as one hooked forward pass.

``HookEngine`` runs the same cells as :class:`~interp.engine.core.Engine`, one
full ``model.run_with_hooks`` call per cell on the TransformerLens bridge, the
way TransformerLens's own ``patching`` does. It serves architectures without a
canonical-weights adapter, and tests check the fast engine against it.

Example:
    >>> import torch
    >>> from interp.testing import tiny_model
    >>> from interp.engine import HookEngine, Patch, logit_diff
    >>> model = tiny_model("gpt2")
    >>> engine = HookEngine(model)
    >>> corrupt = engine.trace(torch.tensor([[1, 8, 6, 7]]))
    >>> zero = torch.zeros(1, 4, 8)
    >>> engine.run(corrupt, [[Patch(layer=1, site="z", head=0, value=zero)]], logit_diff(9, 10)).shape
    torch.Size([1, 1])
"""

from collections.abc import Sequence
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from interp.engine.metrics import Metric
from interp.engine.patches import HEAD_SITES, SITES, Patch, check_cells, hook_name
from interp.engine.trace import MetricReads, Trace


def _index(p: Patch) -> tuple:
    """Where ``p`` writes in its TransformerLens hook tensor."""
    if p.site == "pattern":
        return (slice(None), p.head) if p.pos is None else (slice(None), p.head, p.pos)
    if p.site in HEAD_SITES:
        return (slice(None), slice(None), p.head) if p.pos is None else (slice(None), p.pos, p.head)
    return (slice(None),) if p.pos is None else (slice(None), p.pos)


def _patch_hook(patches: Sequence[Patch], mid_patches: Sequence[Patch] = (), resid_pre: dict | None = None):
    """One TransformerLens hook applying ``patches`` (all at the same hook point).

    ``mid_patches`` (resid_mid patches, applied at the attention output hook as
    ``value - resid_pre``) read the block input captured in ``resid_pre``.
    """

    def fn(act: Tensor, hook: Any) -> Tensor:
        act = act.clone()
        for p in patches:
            act[_index(p)] = p.value.to(device=act.device, dtype=act.dtype)
        for p in mid_patches:
            x = resid_pre["x"]
            act[_index(p)] = p.value.to(device=act.device, dtype=act.dtype) - x[_index(p)]
        return act

    return fn


def _grab(store: dict):
    def fn(act: Tensor, hook: Any) -> None:
        store["x"] = act

    return fn


def patch_hooks(cell: Sequence[Patch]) -> list[tuple[str, Any]]:
    """TransformerLens ``fwd_hooks`` that apply one cell's patches.

    The bridge's ``hook_resid_mid`` is the second norm's input hook: a patch
    there reaches the MLP but not the residual stream. A resid_mid patch is
    therefore applied as TransformerLens's ``HookedTransformer`` defines it,
    replacing the residual stream itself, by setting the attention output to
    ``value - resid_pre``.
    """
    by_name: dict[str, list[Patch]] = {}
    mids: dict[int, list[Patch]] = {}
    for p in cell:
        if p.site == "resid_mid":
            mids.setdefault(p.layer, []).append(p)
        else:
            by_name.setdefault(hook_name(p.layer, p.site), []).append(p)
    later = []
    for layer, ps in mids.items():
        store: dict = {}
        name = hook_name(layer, "attn_out")
        later += [
            (hook_name(layer, "resid_pre"), _grab(store)),
            (name, _patch_hook(by_name.pop(name, []), ps, store)),
        ]
    # Registered first so that a resid_pre patch is in place before the block input is captured.
    return [(name, _patch_hook(ps)) for name, ps in by_name.items()] + later


class HookEngine:
    """Runs cells as hooked forward passes of ``model`` (a :class:`~interp.HookedModel`)."""

    def __init__(self, model: Any):
        self.model = model
        self.n_layers = model.n_layers

    @torch.no_grad()
    def trace(self, tokens: Int[Tensor, "batch pos"]) -> Trace:
        """Run ``tokens`` once, caching every site of every block and the logits."""
        names = {hook_name(layer, site): (layer, site) for layer in range(self.n_layers) for site in SITES}
        names["hook_embed"] = (-1, "embed")
        logits, cache = self.model.run_with_cache(tokens, names_filter=lambda n: n in names)
        acts = {names[n]: cache[n] for n in names if n in cache.cache_dict}
        return Trace(tokens=self.model.check_tokens(tokens), acts=acts, logits=logits)

    def score(self, trace: Trace, metric: Metric) -> Float[Tensor, " batch"]:
        """The per-prompt metric of an unpatched traced run."""
        return metric(trace.logits)

    @torch.no_grad()
    def run(
        self, base: Trace, cells: Sequence[Sequence[Patch]], metric: Metric, *, progress: bool = False
    ) -> Float[Tensor, "cells batch"]:
        """The per-prompt metric of the base run with each cell's patches applied (one forward per cell)."""
        return self.run_metrics(base, cells, [metric], progress=progress)[0]

    @torch.no_grad()
    def run_metrics(
        self,
        base: Trace,
        cells: Sequence[Sequence[Patch]],
        metrics: Sequence[Metric],
        *,
        progress: bool = False,
    ) -> list[Float[Tensor, "cells batch"]]:
        """Every metric of ``metrics`` on the same patched runs (one forward per cell for all)."""
        cells = check_cells(cells)
        MetricReads(metrics, base.batch, base.n_pos)  # validates every metric's positions early
        out = [torch.empty(len(cells), base.batch) for _ in metrics]
        for i, cell in enumerate(tqdm(cells, desc="patching", disable=not progress, leave=False)):
            for p in cell:
                if p.pos is not None and not 0 <= p.pos < base.n_pos:
                    raise ValueError(
                        f"patch position {p.pos} is out of range; expected 0 <= pos < {base.n_pos}"
                    )
            logits = self.model.run_with_hooks(base.tokens, fwd_hooks=patch_hooks(cell))
            for k, metric in enumerate(metrics):
                out[k][i] = metric(logits).float().cpu()
        return out
