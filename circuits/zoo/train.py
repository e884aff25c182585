"""Training recipes of the zoo models, and the loop that trains one.

Each zoo model has one frozen :class:`Recipe`: architecture, task mixture (with the
task formats), steps, learning rate, batch and seed. :func:`train` rebuilds the model
from its recipe on CPU in minutes, saves a Hugging Face checkpoint (``GPT2LMHeadModel``,
float32 safetensors) with the zoo's word tokenizer beside it, and writes the card by
calling :func:`circuits.zoo.verify.verify`.

Design choices (see DESIGN.md, "Lessons from training organisms"):

- Induction data repeats a span at a random period and offset, so that position cannot
  stand in for induction. The organism sees induction alone for its first
  ``induction_warmup`` steps (a curriculum) and with a large weight afterwards; the
  repeated-span loss is logged while training.
- Attention-only layers are GPT-2 blocks whose MLP weights and biases are zero and
  frozen, so the MLP adds exactly zero. ``induction-2l`` has no MLP at all; the
  organism's last block is attention-only.
- The organism's successor data is the ``recall`` form: one set member X hidden among
  filler, then the cue ``next``; the answer is X's successor. X must be fetched by a
  head. A last-layer head that fetches it has no MLP after it, so if the increment
  happens there it happens in the head's own OV circuit (Gould et al.'s successor
  head); the card says from ablation where it happened. In the shipped organism it did
  not: a layer-0 head moves the member and the MLPs increment it (the card lists that
  head as ``successor_mover``; no head's own output ranks the successor first on more
  than 36% of prompts). Forcing the increment into a head needs the member to be
  readable only by the last layer, which this recipe does not achieve. The ``marked``
  form (``next X`` among distractor members, then ``next``) does not either: the
  organism trained on it also increments in its MLPs. A two-layer model trained on it
  alone, with an MLP in layer 0 only, does grow successor heads: its four layer-1 heads
  each increment through their own OV circuit (succession 0.96-1.0 read from embedding
  plus MLP0, 0.23-0.27 from MLP0's output alone), but they are redundant, so no smaller
  set carries the task and as many random heads are the whole of layer 0; with six or
  eight heads per layer no four heads carry it.
- ``successor-2l`` has no MLP at all, so a successor recall prompt can only be solved by
  a head that increments in its own OV circuit. Trained on induction and successor
  recall together, its layer-1 heads do both: their OV circuits copy filler words and
  increment set members. A quarter of its induction prompts place the first copy by
  drawing its start first (``spread=0.25``, see :func:`circuits.tasks.induction.sample_induction`),
  which moves first copies further into the context. The share was chosen among those
  tried, by the previous-token heads the model grew (mean attention to the previous token
  over the 32 positions): with none, one of its two previous-token heads attended to the
  previous token 0.5-0.7 and only before position 13 (0.31); with a tenth, one head again
  scored 0.30; with a quarter, L0H1 and L0H3 score 0.54 and 0.61 (0.9 or more up to position
  12, fading after position 20, where first copies hardly ever lie); with half, induction
  reached 0.55 accuracy and both heads scored 0.21; with every prompt, induction did not form
  (accuracy 0.09-0.35 after 4000-6000 steps).
- The organism's retrieval prompts hold three needles ``K_i V_i`` (distinct keys and
  values) in filler and ask for one (``? K``): with a single needle the value is the only
  value word in the prompt and a layer-0 head finds it by token identity, so the key would
  not matter. The question ends on the key so that the lookup is one match (key to key,
  copy the value after it), as in multi-query associative recall; the earlier form
  ``K is V`` ... ``K ?`` puts the key one token before the query and stayed at chance
  (one in three) through 12,000 steps.
- Addition in the organism has two digits (with three, 5000 mixed steps reach about 50%
  per digit); the ``arithmetic`` model learns three digits alone.
- Loss is read only where the next token is determined by the task (the second copy
  of the span, the answer of a successor or retrieval prompt, the result digits).

Example:
    >>> RECIPES["induction-2l"].n_layers
    2
"""

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from interp.files import staged_folder
from interp.zoo.registry import ZOO_DIR

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    """One task of a mixture.

    Attributes:
        name: ``induction``, ``successor``, ``retrieval`` or ``arithmetic``.
        weight: Share of each batch.
        kwargs: The task's format, passed to its generator in :mod:`circuits.tasks` (as a sorted
            tuple of pairs so that the recipe stays hashable).
    """

    name: str
    weight: float
    kwargs: tuple[tuple[str, Any], ...] = ()

    @property
    def options(self) -> dict[str, Any]:
        """``kwargs`` as a dict."""
        return dict(self.kwargs)


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """How one zoo model is built and trained.

    Attributes:
        name: The zoo name (``data/zoo/NAME``).
        description: One line on what the model is for.
        n_layers, n_heads, d_model, d_mlp, n_ctx: GPT-2 architecture.
        attn_only_layers: Layers whose MLP is zeroed and frozen.
        tasks: The task mixture.
        steps: Optimiser steps.
        induction_warmup: Steps at the start that train on induction alone.
        lr: Peak learning rate (AdamW, linear warm-up, cosine decay to 10%).
        weight_decay: AdamW weight decay.
        batch: Sequences per step, split across the tasks by weight.
        seed: Seed of initialisation and data.
    """

    name: str
    description: str
    n_layers: int
    n_heads: int
    d_model: int
    d_mlp: int
    n_ctx: int
    attn_only_layers: tuple[int, ...] = ()
    tasks: tuple[TaskSpec, ...]
    steps: int
    induction_warmup: int = 0
    lr: float = 1e-3
    weight_decay: float = 0.01
    batch: int = 32
    seed: int = 0
    extra: dict = field(default_factory=dict, compare=False, repr=False)


def _kw(**kwargs) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(kwargs.items()))


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            name="induction-2l",
            description="Two-layer attention-only transformer trained on spans repeated at a random period.",
            n_layers=2,
            n_heads=4,
            d_model=64,
            d_mlp=4,
            n_ctx=64,
            attn_only_layers=(0, 1),
            tasks=(TaskSpec(name="induction", weight=1.0, kwargs=_kw(seq_len=48, span=(3, 16))),),
            steps=5000,
            lr=1e-3,
            batch=64,
            seed=0,
        ),
        Recipe(
            name="successor-2l",
            description=(
                "Two-layer attention-only transformer trained on induction and successor recall: with no "
                "MLP anywhere, the increment must happen in a head's own OV circuit."
            ),
            n_layers=2,
            n_heads=4,
            d_model=64,
            d_mlp=4,
            n_ctx=40,
            attn_only_layers=(0, 1),
            tasks=(
                TaskSpec(name="induction", weight=0.5, kwargs=_kw(seq_len=32, span=(3, 12), spread=0.25)),
                TaskSpec(name="successor", weight=0.5, kwargs=_kw(form="recall", seq_len=16)),
            ),
            steps=4000,
            induction_warmup=500,
            lr=1e-3,
            batch=64,
            seed=0,
        ),
        Recipe(
            name="arithmetic",
            description="Two-layer transformer with MLPs trained on 3-digit addition, digit by digit.",
            n_layers=2,
            n_heads=4,
            d_model=64,
            d_mlp=256,
            n_ctx=16,
            tasks=(TaskSpec(name="arithmetic", weight=1.0, kwargs=_kw(n_digits=3, operation="add")),),
            steps=3000,
            lr=2e-3,
            batch=64,
            seed=0,
        ),
        Recipe(
            name="organism",
            description=(
                "Four-layer GPT-2 with MLPs (last block attention-only) trained on induction, successor "
                "recall, key-value retrieval in filler and 2-digit addition."
            ),
            n_layers=4,
            n_heads=4,
            d_model=64,
            d_mlp=256,
            n_ctx=64,
            attn_only_layers=(3,),
            tasks=(
                TaskSpec(name="induction", weight=0.3, kwargs=_kw(seq_len=40, span=(3, 12))),
                TaskSpec(name="successor", weight=0.15, kwargs=_kw(form="recall", seq_len=16)),
                TaskSpec(name="retrieval", weight=0.2, kwargs=_kw(form="filler", context_len=48)),
                TaskSpec(name="arithmetic", weight=0.35, kwargs=_kw(n_digits=2, operation="add")),
            ),
            steps=5000,
            induction_warmup=1000,
            lr=1.5e-3,
            batch=64,
            seed=0,
        ),
    )
}
"""The recipe of each zoo model."""


def build_model(recipe: Recipe) -> torch.nn.Module:
    """A freshly initialised ``GPT2LMHeadModel`` for ``recipe`` (attention-only MLPs zeroed, frozen)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from circuits.tasks.zoo_vocab import zoo_words

    torch.manual_seed(recipe.seed)
    cfg = GPT2Config(
        vocab_size=len(zoo_words()),
        n_positions=recipe.n_ctx,
        n_embd=recipe.d_model,
        n_layer=recipe.n_layers,
        n_head=recipe.n_heads,
        n_inner=recipe.d_mlp,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=3,
    )
    model = GPT2LMHeadModel(cfg)
    for layer in recipe.attn_only_layers:
        for param in model.transformer.h[layer].mlp.parameters():
            param.data.zero_()
            param.requires_grad_(False)
    return model


class TaskSampler:
    """Training batches of one task on token ids: ``(tokens [n pos], loss mask [n pos])``.

    The mask marks positions whose next token the task determines. Formats come from the
    same samplers as the evaluation tasks of :mod:`circuits.tasks`.
    """

    def __init__(self, spec: TaskSpec, rng: np.random.Generator):
        from circuits.tasks.retrieval import KEYS, VALUES
        from circuits.tasks.zoo_vocab import zoo_filler, zoo_sets, zoo_words

        self.spec, self.rng = spec, rng
        ids = {w: i for i, w in enumerate(zoo_words())}
        self.filler = np.array([ids[w] for w in zoo_filler()])
        self.keys, self.values = np.array([ids[w] for w in KEYS]), np.array([ids[w] for w in VALUES])
        self.pool = np.concatenate([self.filler, self.keys, self.values])
        self.sets = {
            name: ([ids[m] for m in members], name in ("days", "months"))
            for name, members in zoo_sets().items()
        }
        self.ids = ids

    def sample(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` sequences (BOS first) and their loss mask."""
        from circuits.tasks.arithmetic import sample_arithmetic
        from circuits.tasks.induction import sample_induction
        from circuits.tasks.retrieval import sample_needles
        from circuits.tasks.successor import sample_marked, sample_recall

        o, rng, ids = self.spec.options, self.rng, self.ids
        if self.spec.name == "induction":
            s = sample_induction(rng, self.pool, n, o["seq_len"], tuple(o["span"]), o.get("spread", 0.0))
            tokens, mask = s["tokens"], s["mask"]
        elif self.spec.name == "successor":
            sample = sample_marked if o.get("form") == "marked" else sample_recall
            s = sample(rng, self.sets, self.filler, ids["next"], n, o["seq_len"])
            tokens, mask = s["tokens"], np.zeros(s["tokens"].shape, bool)
            mask[:, -1] = True
            tokens = np.concatenate([tokens, s["answer"][:, None]], axis=1)
            mask = np.concatenate([mask, np.zeros((n, 1), bool)], axis=1)
        elif self.spec.name == "retrieval":
            length = int(rng.integers(28, o["context_len"] + 1))
            s = sample_needles(rng, self.filler, self.keys, self.values, ids["?"], n, length - 1)
            tokens = np.concatenate([s["tokens"], s["value"][:, None]], axis=1)
            mask = np.zeros(tokens.shape, bool)
            mask[:, -2] = True
        elif self.spec.name == "arithmetic":
            digits = np.array([ids[str(d)] for d in range(10)])
            s = sample_arithmetic(
                rng,
                digits,
                ids["+"],
                ids["-"],
                ids["="],
                n=n,
                n_digits=o["n_digits"],
                operation=o["operation"],
            )
            tokens, mask = s["tokens"], np.zeros(s["tokens"].shape, bool)
            mask[:, 2 * o["n_digits"] + 1 : -1] = True
        else:
            raise ValueError(
                f"unknown task {self.spec.name!r}; expected induction, successor, retrieval, arithmetic"
            )
        bos = np.ones((n, 1), dtype=np.int64)
        tokens = np.concatenate([bos, tokens], axis=1)
        mask = np.concatenate([np.zeros((n, 1), bool), mask], axis=1)
        return torch.from_numpy(tokens).long(), torch.from_numpy(mask)


def task_loss(model: torch.nn.Module, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Mean next-token cross-entropy at the masked positions, and accuracy there."""
    logits = model(tokens).logits[:, :-1]
    target = tokens[:, 1:]
    m = mask[:, :-1]
    loss = torch.nn.functional.cross_entropy(logits[m], target[m])
    acc = (logits[m].argmax(-1) == target[m]).float().mean().item()
    return loss, acc


def train(
    name: str,
    out_dir: str | Path | None = None,
    steps: int | None = None,
    *,
    verify: bool = True,
    progress: bool = True,
    device: str = "cpu",
    recipe: Recipe | None = None,
) -> Path:
    """Train zoo model ``name`` from its recipe and save checkpoint, tokenizer and card.

    Args:
        name: A key of :data:`RECIPES`.
        out_dir: Where to save (default ``data/zoo/NAME``).
        steps: Override the recipe's number of steps (for smoke tests).
        verify: Write the card from ablation evidence (:func:`circuits.zoo.verify.verify`);
            otherwise write a card with the recipe and training log only.
        progress: Show a progress bar.
        device: Where to train (the recipes are meant for CPU; other devices give slightly
            different weights).
        recipe: A recipe to use instead of ``RECIPES[name]`` (for experiments).

    Returns:
        The checkpoint directory.
    """
    from tqdm.auto import tqdm

    from circuits.tasks.zoo_vocab import zoo_tokenizer

    if recipe is None and name not in RECIPES:
        raise ValueError(f"unknown zoo recipe {name!r}; expected one of {sorted(RECIPES)}")
    recipe = recipe or RECIPES[name]
    recipe = recipe if steps is None else replace(recipe, steps=int(steps))
    out = Path(out_dir) if out_dir is not None else ZOO_DIR / name
    model = build_model(recipe).to(device).train()
    rng = np.random.default_rng(recipe.seed)
    samplers = [TaskSampler(spec, rng) for spec in recipe.tasks]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay, betas=(0.9, 0.98))
    warm = max(1, min(100, recipe.steps // 10))

    def lr_at(step):
        if step < warm:
            return (step + 1) / warm
        frac = (step - warm) / max(1, recipe.steps - warm)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    history: list[dict[str, Any]] = []
    running: dict[str, list[float]] = {}
    start = time.perf_counter()
    bar = tqdm(range(recipe.steps), desc=f"train {name}", disable=not progress)
    for step in bar:
        warmup = step < recipe.induction_warmup
        total = 0.0
        for spec, sampler in zip(recipe.tasks, samplers, strict=True):
            if warmup and spec.name != "induction":
                continue
            share = 1.0 if warmup else spec.weight
            n = max(2, int(round(recipe.batch * share)))
            loss, acc = task_loss(model, *(t.to(device) for t in sampler.sample(n)))
            total = total + share * loss
            running.setdefault(spec.name, []).append(acc)
            running.setdefault(f"{spec.name}_loss", []).append(loss.item())
        opt.zero_grad()
        total.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if (step + 1) % 100 == 0 or step + 1 == recipe.steps:
            row = {"step": step + 1} | {k: round(float(np.mean(v[-100:])), 4) for k, v in running.items()}
            history.append(row)
            running = {}
            bar.set_postfix({k: v for k, v in row.items() if not k.endswith("_loss") and k != "step"})
            log.info("%s", row)
    train_seconds = time.perf_counter() - start
    model = model.to("cpu").eval()
    card = {
        "name": name,
        "description": recipe.description,
        "architecture": {
            "class": "GPT2LMHeadModel",
            "n_layers": recipe.n_layers,
            "n_heads": recipe.n_heads,
            "d_model": recipe.d_model,
            "d_head": recipe.d_model // recipe.n_heads,
            "d_mlp": recipe.d_mlp,
            "n_ctx": recipe.n_ctx,
            "d_vocab": model.config.vocab_size,
            "attn_only_layers": list(recipe.attn_only_layers),
            "n_params": sum(p.numel() for p in model.parameters()),
        },
        "recipe": json.loads(json.dumps(asdict(recipe), default=list)),
        "tasks": [{"name": t.name, "weight": t.weight, "kwargs": t.options} for t in recipe.tasks],
        "training": {
            "seconds": round(train_seconds, 1),
            "device": device,
            "threads": torch.get_num_threads(),
            "log": history,
        },
        "heads": {},
    }
    with staged_folder(out) as staging:  # a killed run leaves the old checkpoint or the whole new one
        model.save_pretrained(staging, safe_serialization=True)
        zoo_tokenizer(staging)
        (staging / "card.json").write_text(json.dumps(card, indent=1, default=list))
    if verify:
        from circuits.zoo.verify import verify as run_verify

        run_verify(out)
    return out


def main(argv: list[str] | None = None) -> None:
    """``python -m circuits.zoo.train NAME [--steps N] [--out DIR] [--no-verify]``."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("name", choices=sorted(RECIPES))
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--no-verify", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    train(args.name, args.out, args.steps, verify=not args.no_verify)


if __name__ == "__main__":
    main()
