"""The batched intervention engine, computed from the canonical weights.

A sweep is many *cells*, each a list of :class:`~interp.engine.patches.Patch`
applied together to one *base* run. TransformerLens runs one full forward pass
per cell; this engine does the same arithmetic with far less work:

- **Prefix reuse.** A cell whose first patch is in block ``l`` starts from the
  base run's cached activations at that patch's site: nothing before it is
  recomputed (a head-output patch does not even recompute its own attention).
- **Suffix reuse.** Positions before the earliest patched position are
  unchanged in a causal model: their keys and values come from the base run's
  cache and only the later positions are recomputed. In the patched block
  itself only the rows the patch can reach are recomputed (one row for a
  head-output patch at one position).
- **Variant batching.** Cells that start at the same place run as one batch,
  chunked to ``memory_budget`` bytes.
- **Reading only what the metric needs.** The last block computes queries, MLP
  and output only at the metric's positions, and the unembedding reads only
  those positions and, when the metric names them, only its tokens.

Every fast path has a slow twin in :mod:`interp.engine.hooks` (the same cells
run as TransformerLens hooks on the bridge), and tests check that they agree.

Example:
    >>> import torch
    >>> from interp.testing import tiny_model
    >>> from interp.engine import Engine, Patch, logit_diff
    >>> model = tiny_model("gpt2")
    >>> engine = Engine(model.weights)
    >>> clean = engine.trace(torch.tensor([[1, 5, 6, 7]]))
    >>> corrupt = engine.trace(torch.tensor([[1, 8, 6, 7]]))
    >>> cells = [[Patch(layer=0, site="z", head=h, value=clean.act(0, "z")[:, :, h])] for h in range(4)]
    >>> engine.run(corrupt, cells, logit_diff(9, 10)).shape
    torch.Size([4, 1])
"""

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import NamedTuple

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from interp.checks import check_token_ids
from interp.engine.metrics import Metric
from interp.engine.patches import HEAD_SITES, Patch, Stage, check_cells
from interp.engine.trace import MetricReads, Trace, gather_metric_logits, metric_rows
from interp.weights.canonical import ModelWeights
from interp.weights.forward import activation, normalize, rotate

DEFAULT_MEMORY_BUDGET = 1 << 30
"""Bytes of working memory one chunk of cells may use (1 GiB)."""

Hook = Callable[[int, str, Tensor, Tensor], Tensor]
"""``hook(layer, site, tensor, positions)`` applies a chunk's patches to one activation."""


class _Patcher:
    """Applies each cell's patches to the chunk tensors (``cells`` is the leading axis)."""

    def __init__(self, cells: Sequence[Sequence[Patch]], device: torch.device, dtype: torch.dtype):
        self.entries: dict[tuple[int, str], list[tuple[int, Patch, Tensor]]] = defaultdict(list)
        for ci, cell in enumerate(cells):
            for p in cell:
                self.entries[(p.layer, p.site)].append((ci, p, p.value.to(device=device, dtype=dtype)))

    def has(self, layer: int, site: str) -> bool:
        return (layer, site) in self.entries

    def __call__(self, layer: int, site: str, t: Tensor, positions: Tensor) -> Tensor:
        entries = self.entries.get((layer, site))
        if not entries:
            return t
        where = {p: i for i, p in enumerate(positions.tolist())}
        for ci, p, value in entries:
            if p.pos is None:
                src = value[:, positions]
                if site == "pattern":
                    t[ci, :, p.head] = src
                elif site in HEAD_SITES:
                    t[ci, :, :, p.head] = src
                else:
                    t[ci] = src
            elif p.pos in where:
                r = where[p.pos]
                if site == "pattern":
                    t[ci, :, p.head, r] = value
                elif site in HEAD_SITES:
                    t[ci, :, r, p.head] = value
                else:
                    t[ci, :, r] = value
        return t


def _repeat(x: Tensor, n: int) -> Tensor:
    """``n`` independent copies of ``x`` along a new leading axis."""
    return x.unsqueeze(0).repeat(n, *([1] * x.ndim))


# Attention contractions, axes named: a cell's patched run (``cell``) of each prompt (``batch``);
# queries grouped by the key-value head they read (``kv_head``, ``group``: grouped-query attention);
# ``prefix``: cached keys and values of positions before the first patched one; without ``cell``,
# a tensor of the base run shared by every cell.
QUERY_KEY = (
    "cell batch query kv_head group d_head, cell batch key kv_head d_head"
    " -> cell batch kv_head group query key"
)
QUERY_PREFIX_KEY = (
    "cell batch query kv_head group d_head, batch prefix kv_head d_head"
    " -> cell batch kv_head group query prefix"
)
PATTERN_VALUE = (
    "cell batch kv_head group query key, cell batch key kv_head d_head"
    " -> cell batch query kv_head group d_head"
)
PATTERN_PREFIX_VALUE = (
    "cell batch kv_head group query prefix, batch prefix kv_head d_head"
    " -> cell batch query kv_head group d_head"
)
PATTERN_BASE_VALUE = (
    "cell batch kv_head group query key, batch key kv_head d_head -> cell batch query kv_head group d_head"
)


class Plan(NamedTuple):
    """Where a cell's computation starts; cells with the same plan run together as one batch.

    Attributes:
        layer: The first block the cell's patches change.
        stage: Where inside that block (the earliest patched site).
        first_pos: The first position any patch changes (earlier positions reuse the base run).
        start_rows: The positions the start block recomputes.
    """

    layer: int
    stage: Stage
    first_pos: int
    start_rows: tuple[int, ...]


class Engine:
    """Batched patching runs computed from :class:`~interp.weights.ModelWeights`.

    Args:
        weights: The model's canonical weights (``model.weights``).
        device: Where to compute (default: where the weights are).
        dtype: Compute dtype (default: the weights' dtype); norms and softmax run in float32.
        memory_budget: Bytes one chunk of cells may use.
    """

    def __init__(
        self,
        weights: ModelWeights,
        *,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
    ):
        if memory_budget <= 0:
            raise ValueError(f"memory_budget must be a positive number of bytes, got {memory_budget}")
        w = weights.to(device=device, dtype=dtype)
        self.w = w
        self.memory_budget = int(memory_budget)
        self.device, self.dtype = w.W_E.device, w.W_E.dtype
        self.n_layers, self.n_heads, self.n_kv = w.n_layers, w.n_heads, w.n_kv_heads
        self.group, self.d_head, self.d_model = w.kv_group, w.d_head, w.d_model
        L, H, D, E = self.n_layers, self.n_heads, self.d_model, self.d_head
        g = self.group
        # Fused 2-D matrices: one matmul per projection (keys and values per key-value head).
        self.Wq = w.W_Q.permute(0, 2, 1, 3).reshape(L, D, H * E)
        self.bq = w.b_Q.reshape(L, H * E)
        wk, wv = w.W_K[:, ::g], w.W_V[:, ::g]
        self.Wkv = torch.cat([wk, wv], 1).permute(0, 2, 1, 3).reshape(L, D, 2 * self.n_kv * E)
        self.bkv = torch.cat([w.b_K[:, ::g], w.b_V[:, ::g]], 1).reshape(L, 2 * self.n_kv * E)
        self.Wo = w.W_O.reshape(L, H * E, D)
        self.flops = 0.0
        """Matmul FLOPs performed by the runs since the counter was last reset."""

    # ----------------------------------------------------------- pieces
    def _ln(self, which: str, layer: int, x: Tensor) -> Tensor:
        w = self.w
        if which == "ln1":
            return normalize(x, w.ln1_w[layer], None if w.ln1_b is None else w.ln1_b[layer], w.norm_eps)
        return normalize(x, w.ln2_w[layer], None if w.ln2_b is None else w.ln2_b[layer], w.norm_eps)

    def _count(self, rows: int, d_in: int, d_out: int) -> None:
        self.flops += 2.0 * rows * d_in * d_out

    def _mlp(self, layer: int, x: Tensor) -> Tensor:
        w = self.w
        rows = x[..., 0].numel()
        pre = x @ w.W_in[layer] + w.b_in[layer]
        self._count(rows, self.d_model, w.d_mlp)
        if w.W_gate is not None:
            hidden = activation(x @ w.W_gate[layer], w.act_fn) * pre
            self._count(rows, self.d_model, w.d_mlp)
        else:
            hidden = activation(pre, w.act_fn)
        self._count(rows, w.d_mlp, self.d_model)
        return hidden @ w.W_out[layer] + w.b_out[layer]

    def _rotate(self, x: Tensor, positions: Tensor) -> Tensor:
        if self.w.rotary is None:
            return x
        lead = x.shape[:-3]
        flat = x.reshape(-1, *x.shape[-3:])
        return rotate(flat, positions, self.w.rotary).reshape(*lead, *x.shape[-3:])

    def _split_heads(self, t: Tensor, heads: int) -> Tensor:
        return t.unflatten(-1, (heads, self.d_head))

    def _attend(
        self,
        layer: int,
        q: Tensor,
        q_pos: Tensor,
        k: Tensor,
        v: Tensor,
        k_pos: Tensor,
        prefix: tuple[Tensor, Tensor] | None,
        hook: Hook,
    ) -> Tensor:
        """Attention of rotated queries ``[c, b, r, head, e]`` over prefix and new keys; returns z."""
        c, b, r = q.shape[:3]
        kv, g = self.n_kv, self.group
        qg = q.unflatten(3, (kv, g))
        scores = einops.einsum(
            qg,
            k,
            QUERY_KEY,
        )
        self.flops += 2.0 * c * b * r * k.shape[2] * self.n_heads * self.d_head
        if prefix is not None:
            k_pre, v_pre = prefix
            pre_scores = einops.einsum(
                qg,
                k_pre,
                QUERY_PREFIX_KEY,
            )
            self.flops += 2.0 * c * b * r * k_pre.shape[1] * self.n_heads * self.d_head
            scores = torch.cat([pre_scores, scores], -1)
        scores = scores * self.w.attn_scale
        n_pre = 0 if prefix is None else prefix[0].shape[1]
        future = k_pos[None, :] > q_pos[:, None]
        mask = torch.cat([torch.zeros(r, n_pre, dtype=torch.bool, device=q.device), future], -1)
        scores = scores.masked_fill(mask, float("-inf"))
        pattern = scores.float().softmax(-1).to(q.dtype).flatten(2, 3)
        pattern = hook(layer, "pattern", pattern, q_pos)
        pg = pattern.unflatten(2, (kv, g))
        z = einops.einsum(
            pg[..., n_pre:],
            v,
            PATTERN_VALUE,
        )
        self.flops += 2.0 * c * b * r * v.shape[2] * self.n_heads * self.d_head
        if prefix is not None:
            z = z + einops.einsum(
                pg[..., :n_pre],
                prefix[1],
                PATTERN_PREFIX_VALUE,
            )
            self.flops += 2.0 * c * b * r * n_pre * self.n_heads * self.d_head
        return z.flatten(3, 4)

    def _attn_from_z(self, layer: int, z: Tensor) -> Tensor:
        self._count(z[..., 0, 0].numel(), self.n_heads * self.d_head, self.d_model)
        return z.flatten(-2) @ self.Wo[layer] + self.w.b_O[layer]

    def _tail(
        self, layer: int, x_rows: Tensor, attn_out: Tensor, q_pos: Tensor, hook: Hook, record: dict | None
    ) -> Tensor:
        """From the attention output to the block's output, at rows ``q_pos``."""
        attn_out = hook(layer, "attn_out", attn_out, q_pos)
        mid = hook(layer, "resid_mid", x_rows + attn_out, q_pos)
        mlp_in = self._ln("ln2", layer, x_rows if self.w.parallel_attn_mlp else mid)
        mlp_out = hook(layer, "mlp_out", self._mlp(layer, mlp_in), q_pos)
        out = hook(layer, "resid_post", mid + mlp_out, q_pos)
        if record is not None:
            record.update(attn_out=attn_out, resid_mid=mid, mlp_out=mlp_out, resid_post=out)
        return out

    def _block(
        self,
        layer: int,
        x: Tensor,
        pos: Tensor,
        q_sel: Tensor | None,
        prefix: tuple[Tensor, Tensor] | None,
        hook: Hook,
        record: dict | None = None,
    ) -> tuple[Tensor, Tensor]:
        """One whole block on rows ``pos`` of ``x [c, b, t, d]``; outputs at rows ``q_sel`` of them."""
        c, b, t = x.shape[:3]
        x = hook(layer, "resid_pre", x, pos)
        h = self._ln("ln1", layer, x)
        q_pos = pos if q_sel is None else pos[q_sel]
        hq = h if q_sel is None else h[:, :, q_sel]
        q = self._split_heads(hq @ self.Wq[layer] + self.bq[layer], self.n_heads)
        self._count(hq[..., 0].numel(), self.d_model, self.n_heads * self.d_head)
        kv = self._split_heads(h @ self.Wkv[layer] + self.bkv[layer], 2 * self.n_kv)
        self._count(c * b * t, self.d_model, 2 * self.n_kv * self.d_head)
        k, v = kv[..., : self.n_kv, :], kv[..., self.n_kv :, :]
        q = hook(layer, "q", q, q_pos)
        k = hook(layer, "k", k.contiguous(), pos)
        v = hook(layer, "v", v.contiguous(), pos)
        k_rot = self._rotate(k, pos)
        if record is not None:
            record.update(resid_pre=x, q=q, k=k, v=v, k_rot=k_rot)
        pattern_rec = {}

        def hook_rec(layer_: int, site: str, t_: Tensor, p: Tensor) -> Tensor:
            t_ = hook(layer_, site, t_, p)
            pattern_rec["pattern"] = t_
            return t_

        z = self._attend(layer, self._rotate(q, q_pos), q_pos, k_rot, v, pos, prefix, hook_rec)
        z = hook(layer, "z", z, q_pos)
        if record is not None:
            record.update(z=z, pattern=pattern_rec["pattern"])
        x_rows = x if q_sel is None else x[:, :, q_sel]
        return self._tail(layer, x_rows, self._attn_from_z(layer, z), q_pos, hook, record), q_pos

    def _start_block(self, layer: int, stage: Stage, rows: Tensor, base: Trace, c: int, hook: Hook) -> Tensor:
        """Block ``layer`` entered at ``stage`` (after resid_pre) from the base cache, at ``rows`` only."""
        n = base.n_pos
        all_pos = torch.arange(n, device=self.device)
        x_rows = base.act(layer, "resid_pre")[:, rows].unsqueeze(0)
        if stage <= Stage.HEAD_OUTPUT:
            if stage == Stage.QUERY_KEY_VALUE:
                q = hook(layer, "q", _repeat(base.act(layer, "q")[:, rows], c), rows)
                k = hook(layer, "k", _repeat(base.act(layer, "k"), c), all_pos)
                v = hook(layer, "v", _repeat(base.act(layer, "v"), c), all_pos)
                z = self._attend(
                    layer, self._rotate(q, rows), rows, self._rotate(k, all_pos), v, all_pos, None, hook
                )
            elif stage == Stage.PATTERN:
                pattern = hook(layer, "pattern", _repeat(base.act(layer, "pattern")[:, :, rows], c), rows)
                pg = pattern.unflatten(2, (self.n_kv, self.group))
                z = einops.einsum(
                    pg,
                    base.act(layer, "v"),
                    PATTERN_BASE_VALUE,
                ).flatten(3, 4)
                self.flops += 2.0 * pattern[:, :, 0].numel() * self.d_head
            else:
                z = _repeat(base.act(layer, "z")[:, rows], c)
            z = hook(layer, "z", z, rows)
            attn_out = self._attn_from_z(layer, z)
        elif stage == Stage.ATTENTION_OUTPUT:
            attn_out = _repeat(base.act(layer, "attn_out")[:, rows], c)
        if stage <= Stage.ATTENTION_OUTPUT:
            return self._tail(layer, x_rows, attn_out, rows, hook, None)
        if stage == Stage.RESID_MID:
            mid = hook(layer, "resid_mid", _repeat(base.act(layer, "resid_mid")[:, rows], c), rows)
            mlp_in = self._ln("ln2", layer, x_rows if self.w.parallel_attn_mlp else mid)
            mlp_out = self._mlp(layer, mlp_in)
        else:
            mid = base.act(layer, "resid_mid")[:, rows].unsqueeze(0)
            mlp_out = _repeat(base.act(layer, "mlp_out")[:, rows], c)
        if stage <= Stage.MLP_OUTPUT:
            mlp_out = hook(layer, "mlp_out", mlp_out, rows)
            return hook(layer, "resid_post", mid + mlp_out, rows)
        return hook(layer, "resid_post", _repeat(base.act(layer, "resid_post")[:, rows], c), rows)

    def _unembed(self, resid: Tensor, vocab: Tensor | None) -> Tensor:
        w = self.w
        final = normalize(resid, w.ln_final_w, w.ln_final_b, w.norm_eps)
        W_U, b_U = (w.W_U, w.b_U) if vocab is None else (w.W_U[:, vocab], w.b_U[vocab])
        self._count(final[..., 0].numel(), self.d_model, W_U.shape[1])
        return final @ W_U + b_U

    # ----------------------------------------------------------- public
    @torch.no_grad()
    def trace(self, tokens: Int[Tensor, "batch pos"]) -> Trace:
        """Run ``tokens`` once and cache every site of every block."""
        tokens = check_token_ids(tokens).to(self.device)
        w = self.w
        n = tokens.shape[1]
        if n > w.n_ctx:
            raise ValueError(f"prompt of {n} tokens is longer than the context; expected at most {w.n_ctx}")
        embed = w.W_E[tokens]
        x = embed + w.W_pos[:n] if w.W_pos is not None else embed
        pos = torch.arange(n, device=self.device)
        acts: dict[tuple[int, str], Tensor] = {(-1, "embed"): embed}
        extra = {}
        x = x.unsqueeze(0)
        for layer in range(self.n_layers):
            rec: dict[str, Tensor] = {}
            x, _ = self._block(layer, x, pos, None, None, lambda _l, _s, t, _p: t, rec)
            for site, t in rec.items():
                if site == "k_rot":
                    extra[f"k_rot.{layer}"] = t[0]
                elif site == "pattern":
                    acts[(layer, site)] = t[0]
                else:
                    acts[(layer, site)] = t[0]
        return Trace(tokens=tokens, acts=acts, final=x[0], extra=extra)

    def metric_logits(self, trace: Trace, metric: Metric) -> Float[Tensor, "batch k vocab"]:
        """The logits ``metric.fn`` reads, for an unpatched traced run."""
        rows, index = metric_rows(metric, trace.batch, trace.n_pos)
        vocab = None if metric.vocab is None else metric.vocab.to(self.device)
        logits = self._unembed(trace.final[:, rows].unsqueeze(0), vocab)
        return gather_metric_logits(logits, index)[0]

    def score(self, trace: Trace, metric: Metric) -> Float[Tensor, " batch"]:
        """The per-prompt metric of an unpatched traced run."""
        return metric.evaluate(self.metric_logits(trace, metric), trace.batch)

    def _plan(self, cell: Sequence[Patch], n: int) -> "Plan":
        """Where a cell's computation starts (cells with equal plans run as one batch)."""
        for p in cell:
            if not 0 <= p.layer < self.n_layers:
                raise ValueError(
                    f"patch layer {p.layer} is out of range; expected 0 <= layer < {self.n_layers}"
                )
            if p.pos is not None and not 0 <= p.pos < n:
                raise ValueError(f"patch position {p.pos} is out of range; expected 0 <= pos < {n}")
            limit = self.n_kv if p.site in ("k", "v") else self.n_heads
            if p.head is not None and not 0 <= p.head < limit:
                raise ValueError(
                    f"patch head {p.head} is out of range for {p.site!r}; expected 0 <= head < {limit}"
                )
        layer = min(p.layer for p in cell)
        start = [p for p in cell if p.layer == layer]
        stage = min(p.stage for p in start)
        p0 = 0 if any(p.pos is None for p in cell) else min(p.pos for p in cell)
        if stage == Stage.BLOCK_INPUT:
            return Plan(layer, Stage.BLOCK_INPUT, p0, tuple(range(p0, n)))
        if any(p.pos is None for p in start):
            return Plan(layer, stage, p0, tuple(range(n)))
        rows: set[int] = set()
        for p in start:
            rows |= set(range(p.pos, n)) if p.site in ("k", "v") else {p.pos}
        return Plan(layer, stage, p0, tuple(sorted(rows)))

    def _cell_bytes(self, batch: int, n: int) -> int:
        w = self.w
        width = 6 * self.d_model + 2 * w.d_mlp + 3 * self.n_heads * self.d_head + 3 * self.n_heads * n
        return batch * n * width * self.w.W_E.element_size() * 2

    @torch.no_grad()
    def run(
        self,
        base: Trace,
        cells: Sequence[Sequence[Patch]],
        metric: Metric,
        *,
        progress: bool = False,
    ) -> Float[Tensor, "cells batch"]:
        """The per-prompt metric of the base run with each cell's patches applied.

        Args:
            base: The traced run patched into (the corrupted run when denoising).
            cells: One list of patches per cell (an empty list is the unpatched run).
            metric: What to score.
            progress: Show a progress bar over chunks.

        Returns:
            ``[cells, batch]`` metric values.
        """
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
        """Like :meth:`run`, scoring every metric of ``metrics`` on the same patched runs: one pass
        over the cells, unembedding the union of the metrics' positions (and vocabulary columns)."""
        cells = check_cells(cells)
        reads = MetricReads(metrics, base.batch, base.n_pos)
        b = base.batch
        vocab = None if reads.vocab is None else reads.vocab.to(self.device)
        base_logits = self._unembed(base.final[:, reads.rows].unsqueeze(0), vocab)
        out = [torch.empty(len(cells), b, device=self.device) for _ in metrics]
        groups: dict[Plan, list[int]] = defaultdict(list)
        for i, cell in enumerate(cells):
            if cell:
                groups[self._plan(cell, base.n_pos)].append(i)
            else:
                for k, values in enumerate(reads.evaluate(base_logits)):
                    out[k][i] = values[0]
        per_chunk = max(1, self.memory_budget // self._cell_bytes(b, base.n_pos))
        jobs = [
            (key, ids[i : i + per_chunk])
            for key, ids in groups.items()
            for i in range(0, len(ids), per_chunk)
        ]
        for key, ids in tqdm(jobs, desc="patching", disable=not progress, leave=False):
            logits = self._run_chunk(base, [cells[i] for i in ids], key, reads.rows, vocab)
            for k, values in enumerate(reads.evaluate(logits)):
                out[k][ids] = values.to(out[k].dtype)
        return out

    def _run_chunk(
        self, base: Trace, cells: list[Sequence[Patch]], key: "Plan", rows_u: list[int], vocab: Tensor | None
    ) -> Tensor:
        layer0, stage, p0, start_rows = key
        c, n, dev = len(cells), base.n_pos, self.device
        hook = _Patcher(cells, dev, self.dtype)
        last = self.n_layers - 1
        metric_set = set(rows_u)
        cur: Tensor | None = None  # [c, b, rows, d] at positions cur_pos
        cur_pos: list[int] = []
        if stage > Stage.BLOCK_INPUT:
            rows = list(start_rows) if layer0 < last else [r for r in start_rows if r in metric_set]
            if rows:
                cur = self._start_block(layer0, stage, torch.tensor(rows, device=dev), base, c, hook)
                cur_pos = rows
            first = layer0 + 1
        else:
            cur = _repeat(base.act(layer0, "resid_pre")[:, p0:], c)
            cur_pos = list(range(p0, n))
            first = layer0
        if first <= last and cur is not None:
            suffix = list(range(p0, n))
            if cur_pos != suffix:
                full = _repeat(base.act(first - 1, "resid_post")[:, p0:], c)
                full[:, :, [r - p0 for r in cur_pos]] = cur
                cur = full
            pos = torch.arange(p0, n, device=dev)
            for layer in range(first, self.n_layers):
                prefix = None
                if p0 > 0:
                    prefix = (base.extra[f"k_rot.{layer}"][:, :p0], base.act(layer, "v")[:, :p0])
                q_sel = None
                if layer == last:
                    keep = [i for i, r in enumerate(suffix) if r in metric_set]
                    if not keep:
                        cur, cur_pos = None, []
                        break
                    q_sel = torch.tensor(keep, device=dev)
                cur, q_pos = self._block(layer, cur, pos, q_sel, prefix, hook)
                cur_pos = q_pos.tolist()
        final = _repeat(base.final[:, rows_u], c)
        if cur is not None:
            where = {r: i for i, r in enumerate(cur_pos)}
            src = [where[r] for r in rows_u if r in where]
            dst = [i for i, r in enumerate(rows_u) if r in where]
            if src:
                final[:, :, dst] = cur[:, :, src]
        return self._unembed(final, vocab)
