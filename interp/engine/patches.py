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
from typing import Literal

from torch import Tensor

Site = Literal["resid_pre", "q", "k", "v", "pattern", "z", "attn_out", "resid_mid", "mlp_out", "resid_post"]
"""Where a patch acts, in the order a block computes them."""

SITES: tuple[str, ...] = (
    "resid_pre",
    "q",
    "k",
    "v",
    "pattern",
    "z",
    "attn_out",
    "resid_mid",
    "mlp_out",
    "resid_post",
)
HEAD_SITES = ("q", "k", "v", "pattern", "z")
STAGE = {
    "resid_pre": 0,
    "q": 1,
    "k": 1,
    "v": 1,
    "pattern": 2,
    "z": 3,
    "attn_out": 4,
    "resid_mid": 5,
    "mlp_out": 6,
    "resid_post": 7,
}
"""The order of sites inside a block: a patch at stage s leaves stages < s unchanged."""

HOOK_NAMES = {
    "resid_pre": "blocks.{layer}.hook_resid_pre",
    "resid_mid": "blocks.{layer}.hook_resid_mid",
    "resid_post": "blocks.{layer}.hook_resid_post",
    "attn_out": "blocks.{layer}.hook_attn_out",
    "mlp_out": "blocks.{layer}.hook_mlp_out",
    "q": "blocks.{layer}.attn.hook_q",
    "k": "blocks.{layer}.attn.hook_k",
    "v": "blocks.{layer}.attn.hook_v",
    "z": "blocks.{layer}.attn.hook_z",
    "pattern": "blocks.{layer}.attn.hook_pattern",
}
"""The TransformerLens hook holding each site."""


def hook_name(layer: int, site: str) -> str:
    """``hook_name(3, "z") -> "blocks.3.attn.hook_z"``."""
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
    def stage(self) -> int:
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
