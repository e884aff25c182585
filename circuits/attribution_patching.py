"""Attribution patching: node and edge scores from gradients (Nanda 2023; Syed 2023; Hanna 2024).

Activation patching needs one run per cell. Attribution patching estimates
every cell at once with a first-order Taylor expansion around the corrupted
run: the score of an activation ``a`` is ``(a_clean - a_corrupted) . dM/da``,
with the gradient taken on the corrupted run (the denoising convention of
TransformerLens ``attribution_patch``: a positive score means moving ``a`` to
its clean value raises the metric).

- **Node level**: ``a`` is a head's output ``z``, an MLP's output or the token
  embedding, at each position.
- **Edge level** (EAP, Syed et al.): the residual stream is a sum of writes
  (embedding, each head's ``z @ W_O``, each MLP's output), and each reader (a
  head's query, key or value input, an MLP's input, the logits) reads its own
  copy. The score of edge writer -> reader is ``delta_writer . dM/d(reader input)``:
  2 forward passes and 1 backward pass score every edge.
- **EAP-IG** (Hanna et al. 2024): the gradient is averaged over ``ig_steps``
  points on the straight line from the corrupted to the clean input embeddings,
  at ``alpha = k / ig_steps`` for ``k = 0 .. ig_steps - 1`` (a left Riemann sum,
  so one step is plain EAP; the authors' code may place the points at
  ``k = 1 .. ig_steps``, unverified).

Prompts are scored independently (the metric of prompt ``b`` must depend only on
prompt ``b``'s logits) and scores are averaged over prompts. Under grouped-query
attention the key and value readers are key-value heads.

Example:
    >>> import torch
    >>> from interp.testing import tiny_model
    >>> from interp.engine import logit_diff
    >>> model = tiny_model("gpt2")
    >>> clean, corrupted = torch.tensor([[1, 5, 6, 7]]), torch.tensor([[1, 8, 6, 7]])
    >>> r = attribution_patching(model, clean, corrupted, logit_diff(9, 10), level="edge")
    >>> r.axes, r.labels["sender"][:2], r.labels["receiver"][-1]
    (('sender', 'receiver'), ['embed', 'L0H0'], 'logits')
"""

from typing import Any, Literal

import torch
from jaxtyping import Int
from torch import Tensor

from circuits.activation_patching import check_pair
from circuits.results import PatchingResult
from interp.engine import Engine, Metric, MetricFn, as_metric
from interp.engine.trace import gather_metric_logits, metric_rows

Level = Literal["node", "edge"]
"""``node``: score each head output, MLP output and embedding. ``edge``: score each writer -> reader edge."""


def _forward(
    engine: Engine, x0: Tensor, rows: list[int], vocab: Tensor | None, split: bool
) -> tuple[Tensor, dict]:
    """A differentiable forward from the block-0 input, tapping the activations attribution needs."""
    w, H, kv, g = engine.w, engine.n_heads, engine.n_kv, engine.group
    n = x0.shape[1]
    pos = torch.arange(n, device=x0.device)
    taps: dict[str, Tensor] = {}

    def tap(name: str, t: Tensor) -> Tensor:
        t.retain_grad()
        taps[name] = t
        return t

    x = x0
    for layer in range(engine.n_layers):
        if split:
            q_in = tap(f"q.{layer}", x.unsqueeze(2).repeat(1, 1, H, 1))
            k_in = tap(f"k.{layer}", x.unsqueeze(2).repeat(1, 1, kv, 1))
            v_in = tap(f"v.{layer}", x.unsqueeze(2).repeat(1, 1, kv, 1))
            q = torch.einsum("bphd,hde->bphe", engine._ln("ln1", layer, q_in), w.W_Q[layer]) + w.b_Q[layer]
            k = (
                torch.einsum("bphd,hde->bphe", engine._ln("ln1", layer, k_in), w.W_K[layer, ::g])
                + w.b_K[layer, ::g]
            )
            v = (
                torch.einsum("bphd,hde->bphe", engine._ln("ln1", layer, v_in), w.W_V[layer, ::g])
                + w.b_V[layer, ::g]
            )
        else:
            h = engine._ln("ln1", layer, x)
            q = engine._split_heads(h @ engine.Wq[layer] + engine.bq[layer], H)
            kvs = engine._split_heads(h @ engine.Wkv[layer] + engine.bkv[layer], 2 * kv)
            k, v = kvs[..., :kv, :], kvs[..., kv:, :]
        q, k = engine._rotate(q, pos), engine._rotate(k, pos)
        z = engine._attend(layer, q[None], pos, k[None], v[None], pos, None, lambda _l, _s, t, _p: t)[0]
        z = tap(f"z.{layer}", z)
        mid = x + engine._attn_from_z(layer, z)
        mlp_src = x if w.parallel_attn_mlp else mid
        if split:
            mlp_src = tap(f"mlp_in.{layer}", mlp_src.clone())
        mlp_out = tap(f"mlp_out.{layer}", engine._mlp(layer, engine._ln("ln2", layer, mlp_src)))
        x = mid + mlp_out
    final = tap("final", x.clone()) if split else x
    return engine._unembed(final[:, rows], vocab), taps


def _gradients(
    engine: Engine, x_clean: Tensor, x_corrupt: Tensor, metric: Metric, steps: int, split: bool
) -> tuple[dict[str, Tensor], Tensor]:
    """Gradients at every tap averaged over the integration points, and the corrupted input's gradient."""
    b, n = x_clean.shape[:2]
    rows, index = metric_rows(metric, b, n)
    vocab = None if metric.vocab is None else metric.vocab.to(engine.device)
    total: dict[str, Tensor] = {}
    g_x0 = torch.zeros_like(x_clean)
    for k in range(steps):
        alpha = k / steps
        x0 = (x_corrupt + alpha * (x_clean - x_corrupt)).detach().requires_grad_(True)
        with torch.enable_grad():
            logits, taps = _forward(engine, x0, rows, vocab, split)
            picked = gather_metric_logits(logits[None], index)[0]
            metric.evaluate(picked, b).sum().backward()
        for name, t in taps.items():
            total[name] = total.get(name, 0) + t.grad.detach() / steps
        g_x0 += x0.grad.detach() / steps
    return total, g_x0


def _node_labels(L: int, H: int) -> list[str]:
    labels = ["embed"]
    for layer in range(L):
        labels += [f"L{layer}H{h}" for h in range(H)] + [f"MLP{layer}"]
    return labels


def attribution_patching(
    model: Any,
    clean: Int[Tensor, "batch pos"],
    corrupted: Int[Tensor, "_batch _pos"],
    metric: Metric | MetricFn,
    *,
    level: Level = "node",
    ig_steps: int = 1,
    per_position: bool = False,
    engine: Engine | None = None,
) -> PatchingResult:
    """Attribution scores of every node or edge, from gradients on the corrupted run.

    Args:
        model: A :class:`~interp.HookedModel` whose architecture has a canonical-weights adapter.
        clean, corrupted: Token ids ``[batch, pos]`` of the same shape.
        metric: What to score (see :mod:`circuits.activation_patching`).
        level: ``"node"`` or ``"edge"``.
        ig_steps: Integration points (1 = EAP; 5 is typical for EAP-IG).
        per_position: Keep a ``pos`` axis instead of summing over positions.
        engine: A fast :class:`~interp.engine.Engine` to reuse.

    Returns:
        Node level: axis ``node`` labelled ``embed, L0H0, ..., MLP0, L1H0, ...``.
        Edge level: axes ``sender`` x ``receiver`` (receivers ``L{l}H{h}.q``, ``L{l}H{h}.k``
        and ``.v`` (key-value heads), ``MLP{l}.in``, ``logits``); edges that do not exist
        (a receiver not after its sender) are NaN. ``pos`` is the last axis when ``per_position``.
    """
    if level not in ("node", "edge"):
        raise ValueError(f"unknown level {level!r}; expected 'node' or 'edge'")
    if ig_steps < 1:
        raise ValueError(f"ig_steps must be at least 1, got {ig_steps}")
    clean, corrupted = model.check_tokens(clean), model.check_tokens(corrupted)
    check_pair(clean, corrupted)
    metric = as_metric(metric)
    engine = engine if engine is not None else Engine(model.weights, device=model.device)
    w, L, H, kv = engine.w, engine.n_layers, engine.n_heads, engine.n_kv
    clean_t, corrupt_t = engine.trace(clean), engine.trace(corrupted)
    x_clean, x_corrupt = clean_t.act(0, "resid_pre"), corrupt_t.act(0, "resid_pre")
    split = level == "edge"
    grads, g_x0 = _gradients(engine, x_clean, x_corrupt, metric, ig_steps, split)
    d_embed = clean_t.act(-1, "embed") - corrupt_t.act(-1, "embed")
    b = clean.shape[0]

    if level == "node":
        parts = [(d_embed * g_x0).sum(-1)[:, :, None]]
        for layer in range(L):
            dz = clean_t.act(layer, "z") - corrupt_t.act(layer, "z")
            parts.append((dz * grads[f"z.{layer}"]).sum(-1))
            dm = clean_t.act(layer, "mlp_out") - corrupt_t.act(layer, "mlp_out")
            parts.append((dm * grads[f"mlp_out.{layer}"]).sum(-1)[:, :, None])
        scores = torch.cat(parts, -1).mean(0).T  # [node, pos]
        axes: tuple[str, ...] = ("node", "pos")
        labels = {"node": _node_labels(L, H)}
    else:
        writers = [d_embed[:, :, None]]
        writer_layer = [-1]
        for layer in range(L):
            dz = clean_t.act(layer, "z") - corrupt_t.act(layer, "z")
            writers.append(torch.einsum("bphe,hed->bphd", dz, w.W_O[layer]))
            writers.append((clean_t.act(layer, "mlp_out") - corrupt_t.act(layer, "mlp_out"))[:, :, None])
            writer_layer += [layer] * H + [layer + 0.5]
        readers, reader_layer, reader_labels = [], [], []
        for layer in range(L):
            for comp, n_h in (("q", H), ("k", kv), ("v", kv)):
                readers.append(grads[f"{comp}.{layer}"])
                reader_layer += [layer] * n_h
                reader_labels += [f"L{layer}H{h}.{comp}" for h in range(n_h)]
            readers.append(grads[f"mlp_in.{layer}"][:, :, None])
            # An MLP reads the heads of its own layer unless attention and MLP run in parallel.
            reader_layer.append(layer if w.parallel_attn_mlp else layer + 0.25)
            reader_labels.append(f"MLP{layer}.in")
        readers.append(grads["final"][:, :, None])
        reader_layer.append(L + 1)
        reader_labels.append("logits")
        scores = torch.einsum("bpwd,bprd->wrp", torch.cat(writers, 2), torch.cat(readers, 2)) / b
        valid = torch.tensor(writer_layer)[:, None] < torch.tensor(reader_layer)[None, :]
        scores = scores.masked_fill(~valid[:, :, None].to(scores.device), float("nan"))
        axes = ("sender", "receiver", "pos")
        labels = {"sender": _node_labels(L, H), "receiver": reader_labels}
    scores = scores.detach().cpu()
    if not per_position:
        scores, axes = scores.sum(-1), axes[:-1]
    return PatchingResult(
        method="eap_ig" if ig_steps > 1 else "eap",
        site=f"{level}s",
        axes=axes,
        scores=scores,
        metric=metric.name,
        baseline=float(engine.score(corrupt_t, metric).float().mean()),
        target=None,
        direction="denoising",
        labels=labels,
        meta={"level": level, "ig_steps": ig_steps},
    )
