"""Cards from causal evidence: single-head mean ablation per task, read with attention patterns.

For each task a zoo model was trained on, :func:`verify`:

1. samples fresh prompts of the task (seeded) and a reference batch, and measures accuracy
   and logit difference;
2. mean-ablates each head alone (its ``hook_z`` replaced by the per-position mean over the
   reference batch) and records the drop in accuracy and logit difference;
3. keeps as evidence the heads whose own ablation lowers accuracy by :data:`MIN_DROP` or the
   logit difference by :data:`MIN_LOGIT_DIFF_SHARE` of its baseline, over all prompts or, for
   arithmetic, within the prompts asking one result digit (a digit-by-digit adder may give each
   result digit its own heads, whose drop the other digits' prompts would dilute); the task's heads
   (``task_heads`` in the card) are the smallest prefix of these, in order of accuracy drop,
   whose joint ablation cuts the task's accuracy to at most :data:`HALF` of the baseline
   (redundant heads, such as several induction heads, matter only together);
4. names each evidence head's role from its attention pattern on the task's prompts: attention
   from the metric position to the token after the current token's earlier occurrence
   (``induction``) or to the previous token (``previous_token``); to the set member
   (``successor``, with the share of prompts whose head output, read straight through the
   unembedding, ranks the member's successor above every other member of its set); to the
   needle's value (``retrieval``); to the operand digits (``arithmetic``). A head that
   attends to the set member but whose own output does not rank the successor first on at
   least :data:`SUCCESSOR_DIRECT_MIN` of the prompts only moves the member (``successor_mover``):
   the increment happens after it. A task below :data:`MIN_LEARNED` accuracy claims no heads. A head that
   matters but shows none of these patterns is listed as ``{task}_other``. A head whose own ablation
   does not hurt but which attends like a role's heads is a **backup** of that role when ablating it
   with them hurts beyond ablating them alone (:func:`backup_heads`);
5. ablates the task's heads together, and as many other heads drawn at random
   :data:`N_RANDOM` times, and writes everything into ``card.json`` and ``card.md``.

No head-finder code is used: the roles come from ablation and patterns alone.

Example:
    >>> head_name(1, 2)
    'L1H2'
"""

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from jaxtyping import Float, Int
from torch import Tensor

from circuits.ablation import ablation_hooks
from circuits.heads.scores import head_name
from circuits.tasks.successor import expressible_sets
from circuits.tasks.zoo_vocab import zoo_sets
from interp.engine import Patch, accuracy, engine_for, logit_diff
from interp.engine.patches import hook_name
from interp.files import commit_files

HALF = 0.45
"""The task's heads together must cut accuracy to at most this share of the baseline (a margin
below the one half the tests require)."""
MIN_LEARNED = 0.5
"""A task whose baseline accuracy is below this is reported as not learned and claims no heads."""
SUCCESSOR_DIRECT_MIN = 0.5
"""Least direct-successor rate for a head to be a ``successor`` head rather than a ``successor_mover``."""
MIN_DROP = 0.05
"""Smallest single-head accuracy drop (absolute) for a head to be a candidate."""
MIN_LOGIT_DIFF_SHARE = 0.05
"""Or smallest single-head logit-difference drop, as a share of the baseline logit difference."""
MAX_HEADS = 4
"""Most heads in a task's smallest sufficient set."""
N_RANDOM = 5
"""Random head sets drawn as the control."""
EVAL_PROMPTS = 256
"""Prompts per task for the documented accuracy."""
EVAL_SEED = 1234
"""Seed of the documented evaluation prompts (the reference batch uses ``EVAL_SEED + 1``)."""
PATTERN_MIN = 0.3
"""Least mean attention to the role's target for a pattern to count."""
BACKUP_PATTERN_MIN = 0.5
"""Least mean attention to the role's target for a head without single-head evidence to be a backup:
with no effect of its own, the pattern must hold most of its attention."""


def parse_label(label: str) -> tuple[int, int]:
    """``(layer, head)`` of ``"L1H2"``."""
    layer, head = label[1:].split("H")
    return int(layer), int(head)


def prompt_scores(
    model, task, reference_tokens: Tensor | None = None, heads=()
) -> tuple[Float[Tensor, " batch"], Float[Tensor, " batch"]]:
    """Per-prompt accuracy and logit difference of ``task``, with ``heads`` mean-ablated."""
    with torch.no_grad():
        if heads:
            hooks = ablation_hooks(model, list(heads), "mean", task.clean_tokens, reference_tokens)
            logits = model.run_with_hooks(task.clean_tokens, fwd_hooks=hooks)
        else:
            logits = model.run(task.clean_tokens)
    return task.accuracy(logits).float(), task.logit_diff(logits).float()


def single_head_scores(
    model, task, reference_tokens: Tensor | None = None, *, backend: str = "auto"
) -> tuple[Float[Tensor, "head batch"], Float[Tensor, "head batch"]]:
    """Per-prompt accuracy and logit difference with each head alone mean-ablated, heads in
    ``(layer, head)`` order: one engine sweep scoring both (``backend="hooks"``: one hooked forward per
    head, :func:`prompt_scores`, the slow twin)."""
    heads = [(layer, head) for layer in range(model.n_layers) for head in range(model.n_heads)]
    if backend == "hooks":
        runs = [prompt_scores(model, task, reference_tokens, [h]) for h in heads]
        return torch.stack([a for a, _ in runs]), torch.stack([d for _, d in runs])
    engine = engine_for(model, backend=backend)
    reference = model.check_tokens(task.clean_tokens if reference_tokens is None else reference_tokens)
    names = [hook_name(layer, "z") for layer in range(model.n_layers)]
    with torch.no_grad():
        _, cache = model.run_with_cache(reference, names_filter=names)
        same_length = reference.shape[1] == task.clean_tokens.shape[1]
        means = [cache[n].mean(0 if same_length else (0, 1), keepdim=True) for n in names]
        cells = [
            [
                Patch(
                    layer=layer,
                    site="z",
                    value=means[layer][:, :, head].expand(1, task.clean_tokens.shape[1], -1),
                    head=head,
                )
            ]
            for layer, head in heads
        ]
        trace = engine.trace(task.clean_tokens)
        where = task.positions[:, None]
        metrics = [
            accuracy(task.answer_tokens, where),
            logit_diff(task.answer_tokens, task.wrong_tokens, where),
        ]
        acc, ld = engine.run_metrics(trace, cells, metrics)
    return acc.float().cpu(), ld.float().cpu()


def _means(scores: tuple[Tensor, Tensor]) -> dict[str, float]:
    """Per-prompt ``(accuracy, logit_diff)`` as their means."""
    return {"accuracy": float(scores[0].mean()), "logit_diff": float(scores[1].mean())}


def task_scores(model, task, reference_tokens: Tensor | None = None, heads=()) -> dict[str, float]:
    """Mean accuracy and logit difference of ``task``, with ``heads`` mean-ablated."""
    return _means(prompt_scores(model, task, reference_tokens, heads))


def digit_drops(task, base: tuple[Tensor, Tensor], ablated: tuple[Tensor, Tensor]) -> dict[str, float]:
    """Within the prompts asking each result digit, the drop in accuracy and the drop in logit difference
    as a share of that digit's own; the largest of each over the digits. A digit whose logit difference
    is not positive (the model does not solve it) has no share to lose."""
    digit = torch.tensor(task.metadata["digit"].to_numpy(copy=True))
    acc, share = [], [0.0]
    for k in digit.unique():
        rows = digit == k
        acc.append(float(base[0][rows].mean() - ablated[0][rows].mean()))
        ld = float(base[1][rows].mean())
        if ld > 0:
            share.append((ld - float(ablated[1][rows].mean())) / ld)
    return {"accuracy_drop_digit": max(acc), "logit_diff_share_digit": max(share)}


def _targets(task, model) -> dict[str, Int[Tensor, " batch"] | Tensor]:
    """Per prompt, the key position each role's pattern should attend to from the metric position."""
    meta, pos = task.metadata, task.positions
    if task.name == "induction":
        return {"induction": pos - torch.tensor(meta["period"].to_numpy()) + 1}
    if task.name == "successor":  # the member; a list prompt ends with it
        return {"successor": torch.tensor(meta["member_pos"].to_numpy()) if "member_pos" in meta else pos}
    if task.name == "retrieval":
        return {"retrieval": torch.tensor(meta["needle_pos"].to_numpy()) + 1}
    if task.name == "ioi":  # the indirect object's mention, the name movers' target
        return {"ioi": (task.clean_tokens == task.answer_tokens[:, None]).int().argmax(1)}
    return {}


def _operand_mask(task) -> Tensor:
    """Per prompt and key position: is it part of the problem asked. The few-shot form records the
    span of its operands and operator (``operand_start``, ``operand_end``); the zoo's digit-by-digit
    form ends with ``A op B = R``, each number ``n_digits`` tokens, and only the digits count."""
    n, length = task.clean_tokens.shape
    mask = torch.zeros(n, length)
    if "operand_start" in task.metadata:
        starts, ends = task.metadata["operand_start"].to_numpy(), task.metadata["operand_end"].to_numpy()
        for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
            mask[i, int(a) : int(b)] = 1.0
        return mask
    n_digits = int(length - 1 - 3) // 3
    start = int(length) - (3 * n_digits + 3)
    mask[:, [start + k for k in range(n_digits)] + [start + n_digits + 1 + k for k in range(n_digits)]] = 1.0
    return mask


def pattern_scores(model, task) -> pd.DataFrame:
    """Per head, attention from the metric position to each role's target (and to the previous token)."""
    names = [hook_name(layer, "pattern") for layer in range(model.n_layers)]
    with torch.no_grad():
        _, cache = model.run_with_cache(task.clean_tokens, names_filter=names)
    idx = torch.arange(len(task))
    rows = []
    targets = _targets(task, model)
    operands = _operand_mask(task) if task.name == "arithmetic" else None
    for layer in range(model.n_layers):
        pattern: Float[Tensor, "batch head q k"] = cache[names[layer]]
        at_metric = pattern[idx, :, task.positions]  # [batch head k]
        prev = pattern.diagonal(offset=-1, dim1=-2, dim2=-1)[:, :, 1:].mean((0, 2))  # previous token
        for head in range(model.n_heads):
            row = {"layer": layer, "head": head, "previous_token": float(prev[head])}
            for role, key in targets.items():
                row[role] = float(at_metric[idx, head, key].mean())
            if task.name == "arithmetic":
                row["arithmetic"] = float((at_metric[:, head] * operands).sum(-1).mean())
            rows.append(row)
    return pd.DataFrame(rows)


def successor_direct(model, task, layer: int, head: int) -> float:
    """Share of prompts where the head's output, through ``ln_final`` scale and ``W_U``, ranks the
    successor first among the members of the prompt's set."""
    w = model.weights
    names = [hook_name(layer, "z"), "ln_final.hook_scale"]
    with torch.no_grad():
        _, cache = model.run_with_cache(task.clean_tokens, names_filter=names)
    idx = torch.arange(len(task))
    z = cache[names[0]][idx, task.positions, head]  # [batch d_head]
    out = z @ w.W_O[layer, head]
    scale = cache[names[1]][idx, task.positions]
    logits = (out / scale) * w.ln_final_w
    logits = logits @ w.W_U
    if getattr(model, "zoo_name", None):
        sets = {
            name: torch.tensor([model.to_single_token(m) for m in members])
            for name, members in zoo_sets().items()
        }
    else:  # the sets as the generic successor task writes them for this tokenizer
        names = list(dict.fromkeys(task.metadata["set"]))
        sets = {name: torch.tensor(ids) for name, (ids, _) in expressible_sets(model, names).items()}
    hits = []
    for i, name in enumerate(task.metadata["set"]):
        members = sets[name]
        best = members[logits[i, members].argmax()]
        hits.append(float(best == task.answer_tokens[i]))
    return float(np.mean(hits))


def backup_heads(
    model, task, reference, single: pd.DataFrame, roles: dict[str, str], base_ld: float
) -> dict[str, dict[str, Any]]:
    """Heads that show a role's attention pattern and take over when the role's heads are ablated.

    A head whose own ablation does not hurt (another head does its job) is a backup of role R
    when it attends like R (at least :data:`BACKUP_PATTERN_MIN` to R's target; for ``previous_token``,
    to the previous token) and ablating it together with R's heads lowers accuracy by
    :data:`MIN_DROP`, or the logit difference by :data:`MIN_LOGIT_DIFF_SHARE` of its baseline,
    beyond ablating R's heads alone (as the backup name movers of Wang et al. 2022).
    """
    by_role: dict[str, list[tuple[int, int]]] = {}
    for label, role in roles.items():
        by_role.setdefault(role, []).append(parse_label(label))
    out: dict[str, dict[str, Any]] = {}
    for role, heads in by_role.items():
        if role not in single:  # no pattern column for the role (``*_other``, ``*_mover``)
            continue
        candidates = [
            (int(r.layer), int(r.head))
            for r in single[~single["evidence"]].itertuples()
            if head_name(int(r.layer), int(r.head)) not in roles and getattr(r, role) >= BACKUP_PATTERN_MIN
        ]
        if not candidates:
            continue
        alone = task_scores(model, task, reference.clean_tokens, heads)
        for head in candidates:
            label = head_name(*head)
            if label in out:
                continue
            both = task_scores(model, task, reference.clean_tokens, [*heads, head])
            drop = alone["accuracy"] - both["accuracy"]
            ld_drop = alone["logit_diff"] - both["logit_diff"]
            if drop >= MIN_DROP or ld_drop >= MIN_LOGIT_DIFF_SHARE * base_ld:
                out[label] = {
                    "role": role,
                    "with": [head_name(*h) for h in heads],
                    "accuracy_with_role_heads_ablated": alone["accuracy"],
                    "accuracy_with_both_ablated": both["accuracy"],
                    "logit_diff_drop_beyond": ld_drop,
                }
    return out


def verify_task(model, task, reference, *, seed: int = 0, backend: str = "auto") -> dict[str, Any]:
    """Ablation and pattern evidence for one task; see the module docstring.

    ``backend`` runs the single-head ablations (:func:`single_head_scores`): the batched engine, or
    ``"hooks"`` for one hooked forward per head."""
    base_prompts = prompt_scores(model, task)
    base = _means(base_prompts)
    by_digit = "digit" in task.metadata
    heads = [(layer, head) for layer in range(model.n_layers) for head in range(model.n_heads)]
    single_acc, single_ld = single_head_scores(model, task, reference.clean_tokens, backend=backend)
    rows = []
    for k, head in enumerate(heads):
        ablated = (single_acc[k], single_ld[k])
        mean = _means(ablated)
        rows.append(
            {
                "layer": head[0],
                "head": head[1],
                "accuracy": mean["accuracy"],
                "accuracy_drop": base["accuracy"] - mean["accuracy"],
                "logit_diff_drop": base["logit_diff"] - mean["logit_diff"],
                **(digit_drops(task, base_prompts, ablated) if by_digit else {}),
            }
        )
    single = pd.DataFrame(rows).merge(pattern_scores(model, task), on=["layer", "head"])
    base_ld = max(base["logit_diff"], 1e-6)
    single["evidence"] = (single["accuracy_drop"] >= MIN_DROP) | (
        single["logit_diff_drop"] >= MIN_LOGIT_DIFF_SHARE * base_ld
    )
    if by_digit:  # a head may serve one result digit: its drop there, undiluted by the others
        single["evidence"] |= (single["accuracy_drop_digit"] >= MIN_DROP) | (
            single["logit_diff_share_digit"] >= MIN_LOGIT_DIFF_SHARE
        )
    ranked = single[single["evidence"]].sort_values(["accuracy_drop", "logit_diff_drop"], ascending=False)
    chosen: list[tuple[int, int]] = []
    joint = base
    for r in ranked.itertuples():
        if len(chosen) >= MAX_HEADS or base["accuracy"] < MIN_LEARNED:
            break
        chosen.append((int(r.layer), int(r.head)))
        joint = task_scores(model, task, reference.clean_tokens, chosen)
        if joint["accuracy"] <= HALF * base["accuracy"]:
            break
    sufficient = bool(chosen) and joint["accuracy"] <= 0.5 * base["accuracy"]
    tried = [head_name(*h) for h in chosen]
    if not sufficient:  # distributed: no small set of heads carries the task; claim none
        chosen = []
    roles = {}
    for r in ranked.itertuples():
        row = single[(single["layer"] == r.layer) & (single["head"] == r.head)].iloc[0]
        task_role = float(row[task.name]) if task.name in row else 0.0
        role = f"{task.name}_other"
        if task.name == "induction" and row["previous_token"] > max(task_role, PATTERN_MIN):
            role = "previous_token"
        elif task_role >= PATTERN_MIN:
            role = task.name
        elif row["previous_token"] >= PATTERN_MIN:
            role = "previous_token"
        roles[head_name(int(r.layer), int(r.head))] = role
    extra: dict[str, Any] = {"learned": base["accuracy"] >= MIN_LEARNED, "sufficient": sufficient}
    backups = backup_heads(model, task, reference, single, roles, base_ld)
    roles |= {label: b["role"] for label, b in backups.items()}
    extra["backup"] = backups
    if task.name == "successor":
        rates = {label: successor_direct(model, task, *parse_label(label)) for label in roles}
        extra["direct_successor_rate"] = rates
        for label, rate in rates.items():
            if roles[label] == "successor" and rate < SUCCESSOR_DIRECT_MIN:
                roles[label] = "successor_mover"
    by_role: dict[str, list[str]] = {}
    for label, role in roles.items():
        by_role.setdefault(role, []).append(label)
    role_ablation = {
        role: {
            "heads": labels,
            **task_scores(model, task, reference.clean_tokens, [parse_label(x) for x in labels]),
        }
        for role, labels in by_role.items()
    }
    rng = np.random.default_rng(seed)
    others = [h for h in heads if h not in chosen]
    random_sets, random_acc = [], []
    for _ in range(N_RANDOM if chosen else 0):
        pick = [others[i] for i in rng.choice(len(others), size=len(chosen), replace=False)]
        random_sets.append([head_name(*h) for h in pick])
        random_acc.append(task_scores(model, task, reference.clean_tokens, pick)["accuracy"])
    return {
        "task": task.name,
        "baseline": base,
        "heads": roles,
        "task_heads": [head_name(*h) for h in chosen],
        "joint_ablation": {"heads": tried, **joint},
        "role_ablation": role_ablation,
        "random_ablation": {"sets": random_sets, "accuracy": random_acc},
        "single_head": single.round(4).to_dict(orient="records"),
        **extra,
    }


def verify(checkpoint: str | Path, *, n_prompts: int = EVAL_PROMPTS, seed: int = EVAL_SEED) -> dict[str, Any]:
    """Measure a zoo checkpoint's tasks and heads and write ``card.json`` and ``card.md`` beside it.

    Returns:
        The updated card.
    """
    from circuits.tasks import zoo_task
    from interp import load_model

    folder = Path(checkpoint)
    card = json.loads((folder / "card.json").read_text())
    model = load_model(str(folder), device="cpu")
    results, accuracy, heads, task_heads = [], {}, {}, {}
    for k, spec in enumerate(card["tasks"]):
        task = zoo_task(model, spec["name"], spec["kwargs"], n_prompts=n_prompts, seed=seed + 1000 * k)
        reference = zoo_task(
            model, spec["name"], spec["kwargs"], n_prompts=n_prompts, seed=seed + 1000 * k + 1
        )
        res = verify_task(model, task, reference, seed=seed)
        results.append(res)
        accuracy[task.name] = round(res["baseline"]["accuracy"], 4)
        task_heads[task.name] = res["task_heads"]
        if res["learned"]:
            for label, role in res["heads"].items():
                if label not in heads.setdefault(role, []):
                    heads[role].append(label)
    card |= {
        "accuracy": accuracy,
        "evaluation": {"n_prompts": n_prompts, "seed": seed, "seed_rule": "seed + 1000 * task index"},
        "heads": heads,
        "task_heads": task_heads,
        "evidence": results,
        "method": (
            "single-head mean ablation of hook_z (per-position mean over a reference batch of the task) "
            "plus attention-pattern inspection at the metric position; see circuits.zoo.verify"
        ),
    }
    commit_files({folder / "card.json": json.dumps(card, indent=1), folder / "card.md": card_markdown(card)})
    return card


def card_markdown(card: dict[str, Any]) -> str:
    """A readable card: description, architecture, recipe, accuracy, heads with their evidence."""
    a, r = card["architecture"], card["recipe"]
    lines = [
        f"# zoo:{card['name']}",
        "",
        card["description"],
        "",
        "## Architecture",
        "",
        f"GPT-2 ({a['class']}), {a['n_layers']} layers x {a['n_heads']} heads, d_model {a['d_model']}, "
        f"d_head {a['d_head']}, d_mlp {a['d_mlp']}, n_ctx {a['n_ctx']}, vocabulary {a['d_vocab']} words, "
        f"{a['n_params']:,} parameters. Attention-only layers (MLP zeroed and frozen): "
        f"{a['attn_only_layers'] or 'none'}.",
        "",
        "## Recipe",
        "",
        f"{r['steps']} steps of AdamW (lr {r['lr']}, weight decay {r['weight_decay']}), batch {r['batch']}, "
        f"seed {r['seed']}, induction-only warm-up {r['induction_warmup']} steps; trained in "
        f"{card['training']['seconds']} s on {card['training']['threads']} CPU thread(s). "
        f"Retrain: `python -m circuits.zoo.train {card['name']}`.",
        "",
        "| task | weight | format |",
        "|---|---|---|",
        *[f"| {t['name']} | {t['weight']} | {t['kwargs']} |" for t in card["tasks"]],
        "",
        "## Accuracy",
        "",
        f"On {card['evaluation']['n_prompts']} fresh prompts per task, seed {card['evaluation']['seed']} "
        "(+1000 per task index), argmax over the full vocabulary.",
        "",
        "| task | accuracy | logit diff |",
        "|---|---|---|",
        *[
            f"| {e['task']} | {e['baseline']['accuracy']:.3f} | {e['baseline']['logit_diff']:.2f} |"
            for e in card["evidence"]
        ],
        "",
        "## Heads by role",
        "",
        card["method"] + ".",
        "",
    ]
    for e in card["evidence"]:
        lines += evidence_markdown(e)
    return "\n".join(lines)


def evidence_markdown(e: dict[str, Any]) -> list[str]:
    """The lines of one task's evidence: its heads with their single-head and joint ablations."""
    lines = [f"### {e['task']}", ""]
    if not e["learned"]:
        lines += [
            f"Not learned: accuracy {e['baseline']['accuracy']:.3f} is below {MIN_LEARNED}; no heads are "
            "claimed for it (the ablation numbers stay in card.json under evidence).",
            "",
        ]
        return lines
    if not e["heads"]:
        lines += ["No head's single ablation lowers accuracy by the threshold; no heads claimed.", ""]
        return lines
    by_digit = "accuracy_drop_digit" in e["single_head"][0]
    lines += [
        "| head | role | accuracy drop (single) | logit-diff drop | attention to target |"
        + (" largest accuracy drop within one result digit |" if by_digit else ""),
        "|---|---|---|---|---|" + ("---|" if by_digit else ""),
    ]
    for label, role in e["heads"].items():
        if label in e.get("backup", {}):
            continue
        layer, head = parse_label(label)
        row = next(s for s in e["single_head"] if s["layer"] == layer and s["head"] == head)
        target = (
            row.get(e["task"], row["previous_token"]) if role != "previous_token" else row["previous_token"]
        )
        lines.append(
            f"| {label} | {role} | {row['accuracy_drop']:.3f} | {row['logit_diff_drop']:.2f} "
            f"| {target:.2f} |" + (f" {row['accuracy_drop_digit']:.3f} |" if by_digit else "")
        )
    j, rnd = e["joint_ablation"], e["random_ablation"]["accuracy"]
    if not e["sufficient"]:
        lines += [
            "",
            f"Distributed: ablating the {len(j['heads'])} strongest heads ({', '.join(j['heads'])}) "
            f"together takes accuracy from {e['baseline']['accuracy']:.3f} only to {j['accuracy']:.3f}, "
            "not below half, so no head set is claimed as sufficient for this task.",
            "",
        ]
        return lines
    lines += [
        "",
        f"Ablating {', '.join(j['heads'])} together: accuracy {e['baseline']['accuracy']:.3f} -> "
        f"{j['accuracy']:.3f}. The same number of other heads at random ({len(rnd)} draws): "
        f"{', '.join(f'{x:.3f}' for x in rnd)}.",
    ]
    for role, r in e["role_ablation"].items():
        lines.append(
            f"Ablating every {role} head ({', '.join(r['heads'])}) together: accuracy {r['accuracy']:.3f}."
        )
    for label, b in e.get("backup", {}).items():
        lines.append(
            f"Backup {b['role']} head {label}: its own ablation does not hurt, but ablating it with "
            f"{', '.join(b['with'])} takes accuracy to {b['accuracy_with_both_ablated']:.3f}, against "
            f"{b['accuracy_with_role_heads_ablated']:.3f} with {', '.join(b['with'])} alone."
        )
    if "direct_successor_rate" in e:
        rates = ", ".join(f"{k} {v:.2f}" for k, v in e["direct_successor_rate"].items())
        lines.append(
            f"Share of prompts where the head's own output through the unembedding ranks the successor "
            f"first among the set: {rates}."
        )
    lines.append("")
    return lines
