"""The discrete-code circuit finder of O'Neill & Bui (2024), "Sparse Autoencoders for Dictionary
Learning Circuit Discovery" (authors' code: charlieoneill11/sae-circuits).

1. Take **positive** prompts (the model completes them: of a task's clean prompts, those
   whose answer is the model's argmax, :func:`task_prompt_sets`) and **negative** prompts
   (it cannot; e.g. IOI with a third name replacing S1, a task's corrupted prompts).
2. For every prompt and head, take the head's output ``hook_result = z @ W_O``
   (per head, no bias) **averaged over positions**.
3. Train **one SAE shared by all heads** on the head outputs of only a few prompts
   (default 10, drawn at random from positives and negatives together): tied
   pre-encoder bias, unit-norm dictionary, ReLU, 200 features, loss MSE + 0.02 *
   mean L1, Adam lr 1e-3, 500 full-batch epochs (:class:`SAECircuitConfig`), on the
   raw head outputs. The balance of MSE and L1 depends on the outputs' scale; the
   option ``input_scale="unit_rms"`` rescales them to elements of RMS 1 first (needed
   on tiny random models, whose head outputs are so small that every feature dies).
   On the zoo's induction-2l, the raw setting ranks heads far better (node AUC 0.97-1.0
   against 0.0-0.13 rescaled, where the SAE reconstructs well but its codes follow token
   identity, shared by positives and negatives), so the paper's setting is the default.
4. The **code** of (prompt, head) is the argmax feature of its SAE encoding.
5. **Node score** of a head: the number of codes seen in positives and never in
   negatives. **Edge score** of a head pair: the number of code pairs
   ``(code of h1, code of h2)`` co-occurring in some positive and in no negative.

Heads are ranked by these scores and compared with a ground-truth circuit by ROC
AUC (:mod:`circuits.evaluation`). The fast path (batched caching, ``torch.isin`` on
packed code keys) has a plain twin, :func:`sae_circuit_reference`, with explicit
Python loops over prompts and heads and ``hook_result`` read from the model; the
tests check that both give the same codes and scores.

Example:
    >>> from interp.testing import tiny_model
    >>> model = tiny_model("gpt2")
    >>> pos, neg = torch.randint(4, 64, (6, 5)), torch.randint(4, 64, (6, 5))
    >>> config = SAECircuitConfig(n_epochs=5, input_scale="unit_rms")
    >>> r = find_sae_circuit(model, pos, neg, config, progress=False)
    >>> tuple(r.node_scores.shape), list(r.df.columns[:4])
    ((2, 4), ['layer', 'head', 'name', 'score'])
"""

import json
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

import einops
import pandas as pd
import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from circuits.heads.scores import HeadScores, head_name
from interp import HookedModel
from interp.engine.patches import hook_name
from probes.sae import SAE, SAEConfig, train_sae

InputScale = Literal["none", "unit_rms"]
"""``none``: raw head outputs (the paper's setting, tuned on GPT-2 small). ``unit_rms``: divide
every head output by one number so that the SAE's training vectors have elements of RMS 1
(mean L2 norm ``sqrt(d_model)``); use it when head outputs are tiny and every feature dies (all
codes 0)."""


@dataclass(frozen=True, kw_only=True)
class SAECircuitConfig:
    """Settings of the SAE circuit finder (defaults: O'Neill & Bui's).

    Attributes:
        d_sae: SAE features (the paper's 200).
        l1_coefficient: L1 weight lambda (0.02; the authors used 0.05 for docstring).
        lr: Adam learning rate.
        n_epochs: Full-batch training epochs.
        n_train_examples: Prompts whose head outputs train the SAE, drawn at random from
            positives and negatives together.
        input_scale: How head outputs are scaled before the SAE (see :data:`InputScale`).
        seed: Seeds the draw and the SAE.
    """

    d_sae: int = 200
    l1_coefficient: float = 0.02
    lr: float = 1e-3
    n_epochs: int = 500
    n_train_examples: int = 10
    input_scale: InputScale = "none"
    seed: int = 0

    def sae_config(self) -> SAEConfig:
        """The SAE settings: ReLU + L1, full batch, pre-encoder bias starting at zero (authors' code)."""
        return SAEConfig(
            d_sae=self.d_sae,
            activation="relu",
            l1_coefficient=self.l1_coefficient,
            lr=self.lr,
            n_epochs=self.n_epochs,
            batch_size=None,
            bias_init="zeros",
            seed=self.seed,
        )


def _check_sets(model: HookedModel, positives: Tensor, negatives: Tensor) -> tuple[Tensor, Tensor]:
    for name, tokens in (("positive", positives), ("negative", negatives)):
        if not isinstance(tokens, Tensor) or tokens.ndim != 2 or tokens.shape[0] == 0:
            shape = tuple(tokens.shape) if isinstance(tokens, Tensor) else type(tokens).__name__
            raise ValueError(
                f"no {name} prompts: the SAE circuit finder compares prompts the model solves with prompts "
                f"it cannot, so it needs at least one {name} prompt [batch, pos]; got {shape}"
            )
    return model.check_tokens(positives), model.check_tokens(negatives)


def head_outputs(
    model: HookedModel, tokens: Int[Tensor, "batch pos"], *, batch_size: int = 64
) -> Float[Tensor, "batch layer head d_model"]:
    """Every head's output ``z @ W_O`` (no bias), averaged over positions, in batches."""
    tokens = model.check_tokens(tokens)
    W_O = model.weights.W_O.float()
    names = [hook_name(layer, "z") for layer in range(model.n_layers)]
    parts = []
    with torch.no_grad():
        for start in range(0, tokens.shape[0], batch_size):
            _, cache = model.run_with_cache(tokens[start : start + batch_size], names_filter=names)
            z = torch.stack([cache[name].float().mean(1) for name in names], dim=1)  # [b layer head d_head]
            parts.append(
                einops.einsum(
                    z,
                    W_O.to(z.device),
                    "batch layer head d_head, layer head d_head d_model -> batch layer head d_model",
                )
            )
    return torch.cat(parts).cpu()


def node_scores_from_codes(
    codes: Int[Tensor, "batch layer head"], is_positive: Bool[Tensor, " batch"], d_sae: int
) -> Float[Tensor, "layer head"]:
    """Per head, the number of codes seen in positives and never in negatives."""
    b, n_layers, n_heads = codes.shape
    flat = codes.reshape(b, -1).long()
    keys = torch.arange(flat.shape[1]) * d_sae + flat  # [batch node]: node * d_sae + code
    pos_keys, neg_keys = keys[is_positive].unique(), keys[~is_positive].unique()
    unique = pos_keys[~torch.isin(pos_keys, neg_keys)]
    return torch.bincount(unique // d_sae, minlength=flat.shape[1]).float().reshape(n_layers, n_heads)


def edge_scores_from_codes(
    codes: Int[Tensor, "batch layer head"], is_positive: Bool[Tensor, " batch"], d_sae: int
) -> Float[Tensor, "node node"]:
    """Per ordered pair of heads (flattened layer-major), the number of code pairs co-occurring in
    some positive and in no negative (zero on the diagonal; symmetric)."""
    b = codes.shape[0]
    flat = codes.reshape(b, -1).long()
    n = flat.shape[1]
    pair = torch.arange(n)[:, None] * n + torch.arange(n)[None, :]  # [node node]
    code_pair = flat[:, :, None] * d_sae + flat[:, None, :]  # [batch node node]
    keys = pair * d_sae * d_sae + code_pair
    off_diagonal = ~torch.eye(n, dtype=torch.bool)
    pos_keys = keys[is_positive][:, off_diagonal].unique()
    neg_keys = keys[~is_positive][:, off_diagonal].unique()
    unique = pos_keys[~torch.isin(pos_keys, neg_keys)]
    return torch.bincount(unique // (d_sae * d_sae), minlength=n * n).float().reshape(n, n)


@dataclass(frozen=True, kw_only=True)
class SAECircuitResult:
    """What the SAE circuit finder found.

    Attributes:
        node_scores: ``[layer, head]``: codes unique to positives.
        edge_scores: ``[node, node]`` over heads flattened layer-major (``layer * n_heads + head``):
            code co-occurrences unique to positives.
        codes: ``[batch, layer, head]``: the argmax feature of every prompt and head, positives first.
        is_positive: ``[batch]``: which rows of ``codes`` are positives.
        train_examples: Row indices (into ``codes``) whose head outputs trained the SAE.
        input_scale: The number head outputs were divided by before the SAE.
        sae: The trained SAE (its ``stats`` give explained variance and L0).
        config: The settings used.
        runtime_s: Wall time of the whole finder, in seconds.
    """

    node_scores: Tensor
    edge_scores: Tensor
    codes: Tensor
    is_positive: Tensor
    train_examples: list[int]
    input_scale: float
    sae: SAE
    config: SAECircuitConfig
    runtime_s: float

    @property
    def n_heads(self) -> int:
        return self.node_scores.shape[1]

    def _codes_of(self, positive: bool) -> Tensor:
        return self.codes[self.is_positive if positive else ~self.is_positive]

    @property
    def df(self) -> pd.DataFrame:
        """One row per head: ``layer, head, name, score`` and ``n_positive_codes, n_negative_codes,
        n_shared_codes`` (distinct codes of the head in each set)."""
        rows = []
        pos, neg = self._codes_of(True), self._codes_of(False)
        for layer in range(self.node_scores.shape[0]):
            for head in range(self.n_heads):
                p, n = set(pos[:, layer, head].tolist()), set(neg[:, layer, head].tolist())
                rows.append(
                    {
                        "layer": layer,
                        "head": head,
                        "name": head_name(layer, head),
                        "score": float(self.node_scores[layer, head]),
                        "n_positive_codes": len(p),
                        "n_negative_codes": len(n),
                        "n_shared_codes": len(p & n),
                    }
                )
        return pd.DataFrame(rows)

    @property
    def edges_df(self) -> pd.DataFrame:
        """One row per unordered head pair: ``sender, receiver`` (names, sender first in layer order),
        their layers and heads, ``same_layer`` and ``score``."""
        rows = []
        n = self.edge_scores.shape[0]
        for i in range(n):
            for j in range(i + 1, n):
                (li, hi), (lj, hj) = divmod(i, self.n_heads), divmod(j, self.n_heads)
                rows.append(
                    {
                        "sender": head_name(li, hi),
                        "receiver": head_name(lj, hj),
                        "sender_layer": li,
                        "sender_head": hi,
                        "receiver_layer": lj,
                        "receiver_head": hj,
                        "same_layer": li == lj,
                        "score": float(self.edge_scores[i, j]),
                    }
                )
        return pd.DataFrame(rows)

    def heads(self, k: int) -> list[tuple[int, int]]:
        """The ``k`` heads of highest node score (ties broken in layer order)."""
        order = torch.argsort(-self.node_scores.flatten(), stable=True)[:k]
        return [divmod(int(i), self.n_heads) for i in order]

    def head_scores(self, threshold: float = 0.0) -> HeadScores:
        """The node scores as :class:`~circuits.heads.scores.HeadScores` of kind ``sae_circuit``."""
        return HeadScores.from_grid("sae_circuit", self.node_scores, threshold=threshold)

    def plot(self):
        """Node scores (layer x head heatmap) beside edge scores (head x head heatmap)."""
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        n_layers, n_heads = self.node_scores.shape
        names = [head_name(layer, head) for layer in range(n_layers) for head in range(n_heads)]
        fig = make_subplots(rows=1, cols=2, subplot_titles=["node: codes unique to positives", "edge"])
        fig.add_trace(
            go.Heatmap(
                z=self.node_scores.tolist(),
                x=[f"H{h}" for h in range(n_heads)],
                y=[f"L{layer}" for layer in range(n_layers)],
                colorscale="Viridis",
                showscale=False,
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Heatmap(z=self.edge_scores.tolist(), x=names, y=names, colorscale="Viridis"), row=1, col=2
        )
        fig.update_yaxes(autorange="reversed")
        return fig.update_layout(title=f"SAE circuit finder ({self.runtime_s:.2f} s)")

    def to_json(self) -> str:
        """Scores, codes, settings and the SAE's statistics as JSON."""
        return json.dumps(
            {
                "method": "sae_circuits",
                "node_scores": self.node_scores.tolist(),
                "edge_scores": self.edge_scores.tolist(),
                "codes": self.codes.tolist(),
                "is_positive": self.is_positive.tolist(),
                "train_examples": self.train_examples,
                "input_scale": self.input_scale,
                "config": asdict(self.config),
                "sae_stats": None if self.sae.stats is None else self.sae.stats.to_dict(),
                "runtime_s": self.runtime_s,
            }
        )


def _train(outputs: Tensor, config: SAECircuitConfig, progress: bool) -> tuple[SAE, list[int], float]:
    """Train the shared SAE on every head of a random draw of prompts; returns it, the draw and the scale."""
    if config.input_scale not in ("unit_rms", "none"):
        raise ValueError(f"unknown input_scale {config.input_scale!r}; expected 'unit_rms' or 'none'")
    g = torch.Generator().manual_seed(config.seed)
    chosen = torch.randperm(outputs.shape[0], generator=g)[: config.n_train_examples].tolist()
    train = outputs[chosen].reshape(-1, outputs.shape[-1])  # every head of the chosen prompts
    scale = (
        float(train.norm(dim=-1).mean()) / train.shape[-1] ** 0.5 if config.input_scale == "unit_rms" else 1.0
    )
    scale = scale if scale > 0 else 1.0
    return train_sae(train / scale, config.sae_config(), progress=progress), chosen, scale


def find_sae_circuit(
    model: HookedModel,
    positives: Int[Tensor, "n_pos pos"],
    negatives: Int[Tensor, "n_neg neg_pos"],
    config: SAECircuitConfig | None = None,
    *,
    batch_size: int = 64,
    progress: bool = True,
) -> SAECircuitResult:
    """Run the SAE circuit finder on positive and negative prompts.

    Args:
        positives: Prompts the model completes correctly.
        negatives: Prompts it cannot complete (e.g. a task's corrupted prompts); may differ in length.
        config: Finder settings (default: the paper's).
        batch_size: Prompts per forward pass when caching head outputs.
        progress: Show a bar while the SAE trains.

    Raises:
        ValueError: When either set is empty, or tokens are out of the vocabulary.
    """
    start = time.perf_counter()
    config = config or SAECircuitConfig()
    positives, negatives = _check_sets(model, positives, negatives)
    outputs = torch.cat(
        [
            head_outputs(model, positives, batch_size=batch_size),
            head_outputs(model, negatives, batch_size=batch_size),
        ]
    )
    is_positive = torch.arange(outputs.shape[0]) < positives.shape[0]
    sae, chosen, scale = _train(outputs, config, progress)
    with torch.no_grad():
        codes = sae.encode(outputs / scale).argmax(-1)  # [batch layer head]
    return SAECircuitResult(
        node_scores=node_scores_from_codes(codes, is_positive, config.d_sae),
        edge_scores=edge_scores_from_codes(codes, is_positive, config.d_sae),
        codes=codes,
        is_positive=is_positive,
        train_examples=chosen,
        input_scale=scale,
        sae=sae,
        config=config,
        runtime_s=time.perf_counter() - start,
    )


def sae_circuit_reference(
    model: HookedModel,
    positives: Int[Tensor, "n_pos pos"],
    negatives: Int[Tensor, "n_neg neg_pos"],
    config: SAECircuitConfig | None = None,
) -> SAECircuitResult:
    """The same method with plain loops: ``hook_result`` per prompt, codes per (prompt, head), sets of codes.

    Slow; the twin that :func:`find_sae_circuit` is tested against.
    """
    start = time.perf_counter()
    config = config or SAECircuitConfig()
    positives, negatives = _check_sets(model, positives, negatives)
    prompts = [*positives, *negatives]
    L, H = model.n_layers, model.n_heads
    previous = bool(getattr(model.bridge.cfg, "use_attn_result", False))
    model.set_use_attn_result(True)
    try:
        outputs = torch.zeros(len(prompts), L, H, model.d_model)
        for e, prompt in enumerate(prompts):
            with torch.no_grad():
                _, cache = model.run_with_cache(
                    prompt[None], names_filter=lambda name: name.endswith("hook_result")
                )
            for layer in range(L):
                for head in range(H):
                    outputs[e, layer, head] = cache[hook_name(layer, "result")][0, :, head].float().mean(0)
    finally:
        model.set_use_attn_result(previous)
    sae, chosen, scale = _train(outputs, config, progress=False)
    codes = torch.zeros(len(prompts), L, H, dtype=torch.long)
    with torch.no_grad():
        for e in range(len(prompts)):
            for layer in range(L):
                for head in range(H):
                    codes[e, layer, head] = int(torch.argmax(sae.encode(outputs[e, layer, head] / scale)))
    n_pos = positives.shape[0]
    node = torch.zeros(L, H)
    for layer in range(L):
        for head in range(H):
            seen_pos = {int(codes[e, layer, head]) for e in range(n_pos)}
            seen_neg = {int(codes[e, layer, head]) for e in range(n_pos, len(prompts))}
            node[layer, head] = len(seen_pos - seen_neg)
    n = L * H
    edge = torch.zeros(n, n)
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            pairs_pos = {(int(codes[e].flatten()[i]), int(codes[e].flatten()[j])) for e in range(n_pos)}
            pairs_neg = {
                (int(codes[e].flatten()[i]), int(codes[e].flatten()[j])) for e in range(n_pos, len(prompts))
            }
            edge[i, j] = len(pairs_pos - pairs_neg)
    return SAECircuitResult(
        node_scores=node,
        edge_scores=edge,
        codes=codes,
        is_positive=torch.arange(len(prompts)) < n_pos,
        train_examples=chosen,
        input_scale=scale,
        sae=sae,
        config=config,
        runtime_s=time.perf_counter() - start,
    )


def solved_prompts(model: HookedModel, task: Any, *, batch_size: int = 256) -> Bool[Tensor, " batch"]:
    """Which of a task's clean prompts ``model`` completes: the answer is the argmax over the vocabulary.

    Args:
        task: A :class:`circuits.tasks.Task` (anything with ``evaluate(model)`` giving per-prompt
            ``accuracy``).

    Raises:
        ValueError: When the task has no answers, so that which prompts are solved cannot be told.
    """
    if not callable(getattr(task, "evaluate", None)):
        name = getattr(task, "name", type(task).__name__)
        raise ValueError(
            f"cannot tell which prompts of task {name!r} the model solves: it has no answers; expected a "
            "circuits.tasks.Task (with evaluate), or pass its 'solved' mask"
        )
    accuracy = task.evaluate(model, batch_size=batch_size)["accuracy"].to_numpy()
    return torch.from_numpy(accuracy > 0.5)


def task_prompt_sets(task: Any, model: HookedModel | None = None) -> tuple[Tensor, Tensor]:
    """Positives and negatives of a task: the clean prompts the model solves, and prompts it cannot complete.

    A task is any object with ``clean_tokens`` and ``corrupted_tokens`` (as
    :mod:`circuits.tasks` tasks have). The paper's negatives are the task's ``negative_tokens`` when
    it has them (arithmetic: every operand digit replaced by one word, since the counterfactual
    operands of its corrupted prompts leave a sum the model can still do), else its corrupted
    prompts. The paper's positives are prompts the model completes correctly: the clean prompts in
    the task's ``solved`` mask when it has one, else those that ``model`` solves when a model is
    given and the task has answers (:func:`solved_prompts`), else every clean prompt.

    Raises:
        ValueError: When the task has no corrupted prompts to serve as negatives, or the model solves
            none of its prompts.
    """
    positives = getattr(task, "clean_tokens", None)
    negatives = getattr(task, "negative_tokens", None)
    if negatives is None:
        negatives = getattr(task, "corrupted_tokens", None)
    name = getattr(task, "name", type(task).__name__)
    if positives is None:
        raise ValueError(f"task {name!r} has no clean_tokens; expected a task with positive prompts")
    if negatives is None or not isinstance(negatives, Tensor) or negatives.numel() == 0:
        raise ValueError(
            f"task {name!r} has no negatives (corrupted_tokens is empty); the SAE circuit finder needs "
            "prompts the model cannot complete to compare against"
        )
    solved = getattr(task, "solved", None)
    if solved is None and model is not None and callable(getattr(task, "evaluate", None)):
        solved = solved_prompts(model, task)
    if solved is not None:
        solved = torch.as_tensor(solved, dtype=torch.bool).cpu()
        if solved.shape != (positives.shape[0],):
            raise ValueError(
                f"task {name!r}: solved has shape {tuple(solved.shape)}; expected one flag per clean "
                f"prompt, ({positives.shape[0]},)"
            )
        if not solved.any():
            raise ValueError(
                f"the model solves none of task {name!r}'s {positives.shape[0]} prompts; the SAE circuit "
                "finder's positives are prompts it completes correctly"
            )
        positives = positives[solved.to(positives.device)]
    return positives, negatives


def find_sae_circuit_for_task(
    model: HookedModel, task: Any, config: SAECircuitConfig | None = None, *, progress: bool = True
) -> SAECircuitResult:
    """:func:`find_sae_circuit` on a task's solved clean prompts (positives) and its negatives
    (:func:`task_prompt_sets`)."""
    positives, negatives = task_prompt_sets(task, model)
    return find_sae_circuit(model, positives, negatives, config, progress=progress)
