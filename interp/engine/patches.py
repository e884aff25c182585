"""Interventions the engine runs: one :class:`Patch` replaces one activation slice.

A *cell* of a sweep is a list of patches applied together in one run. Sites
use TransformerLens's activation names, and values have the layout of the
TransformerLens hook tensor sliced at ``head`` and ``pos``:

====================  ===============================  ==========================
site                  TransformerLens hook             value (``pos`` None / int)
====================  ===============================  ==========================
resid_pre, resid_mid  ``blocks.L.hook_resid_*``        ``[b, pos, d_model]`` / ``[b, d_model]``
resid_post            ``blocks.L.hook_resid_post``     same
attn_out, mlp_out     ``blocks.L.hook_attn_out`` ...   same
q, z                  ``blocks.L.attn.hook_q`` ...     ``[b, pos, d_head]`` / ``[b, d_head]``
k, v                  ``blocks.L.attn.hook_k`` (key-value head index)   same
pattern               ``blocks.L.attn.hook_pattern``   ``[b, dest, src]`` / ``[b, src]``
====================  ===============================  ==========================

``b`` is the batch or 1 (one value broadcast to every prompt). ``q`` and
``k`` are before rotary embeddings, as TransformerLens hooks them.
"""

from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

from torch import Tensor

Site = Literal["resid_pre", "q", "k", "v", "pattern", "z", "attn_out", "resid_mid", "mlp_out", "resid_post"]
"""Where a patch acts, in the order a block computes them."""


class Stage(IntEnum):
    """Where inside a block a site sits; a patch at one stage leaves the earlier stages unchanged, so
    the engine enters the block there from the base run's cache."""

    BLOCK_INPUT = 0
    """The residual stream entering the block (``resid_pre``)."""
    QUERY_KEY_VALUE = 1
    """The attention inputs (``q``, ``k``, ``v``)."""
    PATTERN = 2
    """The attention pattern."""
    HEAD_OUTPUT = 3
    """Each head's attention-weighted values (``z``)."""
    ATTENTION_OUTPUT = 4
    """The attention sublayer's output (``attn_out``)."""
    RESID_MID = 5
    """The residual stream between attention and MLP."""
    MLP_OUTPUT = 6
    """The MLP's output (``mlp_out``)."""
    BLOCK_OUTPUT = 7
    """The residual stream leaving the block (``resid_post``)."""


@dataclass(frozen=True)
class SiteSpec:
    """One patching site: its stage inside a block, its TransformerLens hook, and whether it is per head."""

    name: str
    stage: Stage
    hook: str
    per_head: bool = False


SITE_SPECS: dict[str, SiteSpec] = {
    spec.name: spec
    for spec in (
        SiteSpec("resid_pre", Stage.BLOCK_INPUT, "blocks.{layer}.hook_resid_pre"),
        SiteSpec("q", Stage.QUERY_KEY_VALUE, "blocks.{layer}.attn.hook_q", per_head=True),
        SiteSpec("k", Stage.QUERY_KEY_VALUE, "blocks.{layer}.attn.hook_k", per_head=True),
        SiteSpec("v", Stage.QUERY_KEY_VALUE, "blocks.{layer}.attn.hook_v", per_head=True),
        SiteSpec("pattern", Stage.PATTERN, "blocks.{layer}.attn.hook_pattern", per_head=True),
        SiteSpec("z", Stage.HEAD_OUTPUT, "blocks.{layer}.attn.hook_z", per_head=True),
        SiteSpec("attn_out", Stage.ATTENTION_OUTPUT, "blocks.{layer}.hook_attn_out"),
        SiteSpec("resid_mid", Stage.RESID_MID, "blocks.{layer}.hook_resid_mid"),
        SiteSpec("mlp_out", Stage.MLP_OUTPUT, "blocks.{layer}.hook_mlp_out"),
        SiteSpec("resid_post", Stage.BLOCK_OUTPUT, "blocks.{layer}.hook_resid_post"),
    )
}
"""Every patching site, in the order a block computes them: the one table the others derive from."""

SITES: tuple[str, ...] = tuple(SITE_SPECS)
HEAD_SITES = tuple(name for name, spec in SITE_SPECS.items() if spec.per_head)
STAGE = {name: spec.stage for name, spec in SITE_SPECS.items()}
"""The order of sites inside a block: a patch at stage s leaves stages < s unchanged."""

READ_ONLY_HOOKS = {
    "result": "blocks.{layer}.attn.hook_result",
    "mlp_post": "blocks.{layer}.mlp.hook_post",
}
"""Hooks methods read that are not patching sites: per-head outputs (with ``set_use_attn_result``)
and the MLP's hidden activations."""

HOOK_NAMES = {name: spec.hook for name, spec in SITE_SPECS.items()} | READ_ONLY_HOOKS
"""The TransformerLens hook holding each site (and each read-only activation)."""


def hook_name(layer: int, site: str) -> str:
    """The TransformerLens hook name of ``site`` in block ``layer``: every hook name is built here.

    ``hook_name(3, "z") -> "blocks.3.attn.hook_z"``.
    """
    if site not in HOOK_NAMES:
        raise ValueError(f"unknown activation site {site!r}; expected one of {list(HOOK_NAMES)}")
    return HOOK_NAMES[site].format(layer=layer)


@dataclass(frozen=True, kw_only=True)
class Patch:
    """Replace one activation slice with ``value``.

    Attributes:
        layer: The block.
        site: Which activation (see the module table).
        value: The replacement, shaped as in the module table.
        head: Head index for q, z and pattern; key-value head index for k and v;
            None for residual-stream sites.
        pos: Position (destination position for pattern), or None for every position.
    """

    layer: int
    site: Site
    value: Tensor
    head: int | None = None
    pos: int | None = None

    def __post_init__(self) -> None:
        if self.site not in STAGE:
            raise ValueError(f"unknown patch site {self.site!r}; expected one of {SITES}")
        if (self.site in HEAD_SITES) != (self.head is not None):
            need = "needs a head index" if self.site in HEAD_SITES else "takes no head index"
            raise ValueError(f"patch site {self.site!r} {need}, got head={self.head}")

    @property
    def stage(self) -> Stage:
        return STAGE[self.site]


def check_cells(cells: object) -> list[list[Patch]]:
    """Cells as lists of patches; no cells, or a cell holding anything but patches, is named."""
    if isinstance(cells, Patch) or not hasattr(cells, "__len__"):
        raise TypeError(f"cells must be a list of cells (each a list of Patch), got {type(cells).__name__}")
    if len(cells) == 0:
        raise ValueError(
            "no cells to run; expected at least one list of patches (an empty list is the clean run)"
        )
    checked = []
    for i, cell in enumerate(cells):
        if isinstance(cell, Patch) or not all(isinstance(p, Patch) for p in cell):
            raise TypeError(f"cell {i} must be a list of Patch objects, got {cell!r:.80}")
        checked.append(list(cell))
    return checked
