"""A card for any model, made by the toolkit's verification: which heads each task needs, and why.

:func:`model_card` measures, for each task the model can be given (induction, successor, retrieval,
the arithmetic it solves, IOI), the evidence :func:`circuits.zoo.verify.verify_task` collects for the
zoo's cards: baseline accuracy and logit difference on fresh seeded prompts; every head mean-ablated
alone (one sweep of the batched engine); the heads whose ablation lowers accuracy or the logit
difference past the thresholds, with their roles read from attention patterns; the smallest set of
them that halves accuracy, against random sets of the same size; backups. On top of that:

- **communication**: between the previous-token heads and the induction heads the induction evidence
  names, the K-composition each pair's weights predict (:mod:`circuits.svd_communication`) and the
  change measured in the receiver's attention when the sender's output is removed;
- **name movers**: each IOI evidence head's direct logit attribution to ``logit(IO) - logit(S)`` and
  its attention to IO and S (:mod:`circuits.name_movers`).

No head finder is run: the heads come from ablation and attention patterns alone, so the card can
check the finders. :func:`write_card` writes ``card.json`` and ``card.md``.

Example:
    >>> sorted(CARD_TASKS)
    ['arithmetic', 'induction', 'ioi', 'retrieval', 'successor']
"""

import json
import platform
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from circuits.evidence import evidence_task
from circuits.heads.scores import head_name
from circuits.name_movers import name_movers
from circuits.svd_communication import communication_check
from circuits.zoo.verify import evidence_markdown, parse_label, verify_task
from interp import HookedModel
from interp.checks import check_count
from interp.files import commit_files

CARD_TASKS = ("induction", "successor", "retrieval", "arithmetic", "ioi")
"""The tasks a card tries, in order; one the tokenizer cannot express is listed as skipped."""

CARD_TOKENS = 4096
"""At most this many prompt tokens (prompts x positions) per task: each head is ablated alone in one
sweep, so a task of long prompts (needles in haystacks of 320 tokens) gets fewer of them."""

COMMUNICATION_PROMPTS = 8
"""Induction prompts the communication check runs on."""

METHOD = (
    "single-head mean ablation of hook_z (per-position mean over a reference batch of the task, one "
    "sweep of the batched engine) plus attention-pattern inspection at the metric position; "
    "see circuits.zoo.verify and circuits.model_card"
)


def _fitted(task: Any, max_tokens: int) -> Any:
    """The task's first prompts within ``max_tokens`` tokens (never fewer than 8)."""
    fits = max(8, max_tokens // int(task.clean_tokens.shape[1]))
    return task.subset(torch.arange(fits)) if fits < len(task) else task


def _communication(model: HookedModel, task: Any, evidence: dict[str, Any]) -> dict[str, Any] | None:
    """K-composition predicted and measured from the previous-token heads to the induction heads."""
    roles = evidence["heads"]
    senders = [parse_label(h) for h, r in roles.items() if r == "previous_token"]
    receivers = [parse_label(h) for h, r in roles.items() if r == "induction"]
    pairs = [(s, r) for s in senders for r in receivers if s[0] < r[0]]
    if not pairs:
        return None
    tokens = task.clean_tokens[:COMMUNICATION_PROMPTS]
    check = communication_check(model, tokens, senders, receivers, mode="K")
    return {
        "senders": [head_name(*h) for h in senders],
        "receivers": [head_name(*h) for h in receivers],
        "n_prompts": len(tokens),
        "pairs": json.loads(check.pairs.round(4).to_json(orient="records")),
        "correlation": check.correlation(),
    }


def _name_movers(model: HookedModel, task: Any, evidence: dict[str, Any]) -> dict[str, Any]:
    result = name_movers(model, task)
    heads = set(evidence["heads"])
    rows = result.df[result.df["label"].isin(heads) | (result.df["role"] != "other")]
    return {"logit_diff": result.logit_diff, "heads": json.loads(rows.round(4).to_json(orient="records"))}


def model_card(
    model: HookedModel,
    *,
    tasks: Sequence[str] = CARD_TASKS,
    n_prompts: int = 32,
    seed: int = 1234,
    max_tokens: int = CARD_TOKENS,
    progress: bool = True,
) -> dict[str, Any]:
    """Verify every task of ``tasks`` on ``model`` and gather the evidence as a card (a JSON-able dict).

    Args:
        tasks: From :data:`CARD_TASKS`.
        n_prompts: Prompts per task; long ones fewer, at least 8 and within ``max_tokens`` tokens.
        seed: Task ``k`` samples its prompts with ``seed + 1000 * k`` and its reference batch (the means
            of the ablation) with one more.
        progress: Show a progress bar over the tasks.

    Raises:
        ValueError: An unknown task, ``n_prompts`` below 2 or ``max_tokens`` below 1.
    """
    unknown = [t for t in tasks if t not in CARD_TASKS]
    if unknown:
        raise ValueError(f"unknown card task(s) {unknown}; expected some of {list(CARD_TASKS)}")
    n_prompts = check_count("n_prompts", n_prompts, minimum=2)
    max_tokens = check_count("max_tokens", max_tokens)
    start = time.perf_counter()
    evidence, skipped, extra = [], {}, {}
    for k, name in enumerate(tqdm(list(tasks), desc="card tasks", disable=not progress)):
        try:
            task = _fitted(evidence_task(model, name, n_prompts=n_prompts, seed=seed + 1000 * k), max_tokens)
            reference = _fitted(
                evidence_task(model, name, n_prompts=n_prompts, seed=seed + 1000 * k + 1), max_tokens
            )
        except ValueError as err:
            skipped[name] = str(err)
            continue
        with torch.no_grad():
            result = verify_task(model, task, reference, seed=seed)
        result["n_prompts"], result["n_tokens"] = len(task), int(task.clean_tokens.shape[1])
        if "form" in task.metadata:
            result["form"] = str(task.metadata["form"].iloc[0])
        evidence.append(result)
        if name == "induction" and result["learned"]:
            extra["communication"] = _communication(model, task, result)
        if name == "ioi" and result["learned"]:
            extra["name_movers"] = _name_movers(model, task, result)
    heads: dict[str, list[str]] = {}
    for e in evidence:
        if e["learned"]:
            for label, role in e["heads"].items():
                heads.setdefault(role, [])
                if label not in heads[role]:
                    heads[role].append(label)
    s = model.summary()
    return {
        "name": str(model.spec),
        "architecture": {
            "type": s.architecture,
            "n_layers": s.n_layers,
            "n_heads": s.n_heads,
            "n_kv_heads": s.n_kv_heads,
            "d_model": s.d_model,
            "d_head": s.d_head,
            "d_mlp": s.d_mlp,
            "d_vocab": s.d_vocab,
            "n_params": s.n_params,
            "dtype": s.dtype,
        },
        "accuracy": {e["task"]: round(e["baseline"]["accuracy"], 4) for e in evidence},
        "heads": heads,
        "task_heads": {e["task"]: e["task_heads"] for e in evidence},
        "evidence": evidence,
        "skipped": skipped,
        **extra,
        "method": METHOD,
        "made": {
            "how": f"circuits.model_card.model_card(load_model({str(model.spec)!r}), n_prompts={n_prompts}, "
            f"seed={seed}); `interp card {model.spec} --out-dir DIR` does the same",
            "evaluation": {
                "n_prompts": n_prompts,
                "max_tokens": max_tokens,
                "seed": seed,
                "seed_rule": "seed + 1000 * task index",
            },
            "toolkit": _version("interp-toolkit"),
            "torch": torch.__version__,
            "transformers": _version("transformers"),
            "threads": torch.get_num_threads(),
            "machine": platform.machine(),
            "seconds": round(time.perf_counter() - start, 1),
            "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        },
    }


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def card_markdown(card: dict[str, Any]) -> str:
    """The card as markdown: architecture, how it was made, accuracy, each task's heads and evidence."""
    a, made = card["architecture"], card["made"]
    lines = [
        f"# {card['name']}",
        "",
        f"{a['type']}, {a['n_layers']} layers x {a['n_heads']} heads ({a['n_kv_heads']} key-value heads), "
        f"d_model {a['d_model']}, d_head {a['d_head']}, d_mlp {a['d_mlp']}, vocabulary {a['d_vocab']}, "
        f"{a['n_params']:,} parameters ({a['dtype']}).",
        "",
        "## How this card was made",
        "",
        f"{made['how']}. Toolkit {made['toolkit']}, torch {made['torch']}, transformers "
        f"{made['transformers']}; {made['seconds']} s on {made['threads']} CPU thread(s), {made['date']}. "
        f"Method: {card['method']}. No head finder was run.",
        "",
        "## Accuracy",
        "",
        "| task | form | prompts x tokens | accuracy | logit diff |",
        "|---|---|---|---|---|",
        *[
            f"| {e['task']} | {e.get('form', '')} | {e['n_prompts']} x {e['n_tokens']} "
            f"| {e['baseline']['accuracy']:.3f} | {e['baseline']['logit_diff']:.2f} |"
            for e in card["evidence"]
        ],
        *[f"| {name} | skipped: {why} | | | |" for name, why in card["skipped"].items()],
        "",
        "## Heads by task",
        "",
    ]
    for e in card["evidence"]:
        lines += evidence_markdown(e)
    if card.get("communication"):
        c = card["communication"]
        corr = c["correlation"]
        lines += [
            "## Communication: previous-token heads to induction heads",
            "",
            f"K-composition predicted from the weights and the change measured in each receiver's attention "
            f"pattern when the sender's output is removed ({c['n_prompts']} induction prompts).",
            "",
            "| sender | receiver | predicted | measured |",
            "|---|---|---|---|",
            *[
                f"| L{p['sender_layer']}H{p['sender_head']} | L{p['receiver_layer']}H{p['receiver_head']} "
                f"| {p['predicted']:.3f} | {p['measured']:.3f} |"
                for p in c["pairs"]
            ],
            "",
            "Correlation of predicted and measured: "
            + "; ".join(
                f"per {level.rstrip('s')}: Pearson {r['pearson']:.2f}, Spearman {r['spearman']:.2f} "
                f"(n {r['n']})"
                for level, r in corr.items()
            )
            + ".",
            "",
        ]
    if card.get("name_movers"):
        nm = card["name_movers"]
        lines += [
            "## IOI: name movers",
            "",
            f"Direct logit attribution of each IOI evidence head (and every head with a name-mover role) to "
            f"logit(IO) - logit(S), clean mean {nm['logit_diff']:.2f}; attention from the end to IO and S.",
            "",
            "| head | DLA | share | attention to IO | attention to S | role |",
            "|---|---|---|---|---|---|",
            *[
                f"| {r['label']} | {r['dla']:.3f} | {r['dla_share']:.3f} | {r['attn_io']:.3f} "
                f"| {r['attn_s']:.3f} | {r['role']} |"
                for r in nm["heads"]
            ],
            "",
        ]
    return "\n".join(lines)


def write_card(card: dict[str, Any], folder: str | Path) -> tuple[Path, Path]:
    """Write ``card.json`` and ``card.md`` into ``folder`` (created), each atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = (folder / "card.json", folder / "card.md")
    commit_files({paths[0]: json.dumps(card, indent=1), paths[1]: card_markdown(card)})
    return paths
