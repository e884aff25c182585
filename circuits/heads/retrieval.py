"""Retrieval heads (Wu et al. 2024, "Retrieval Head Mechanistically Explains Long-Context Factuality").

Needle in a haystack: each prompt holds a needle span ``[s0, s1)``; the model
greedily decodes up to ``max_new_tokens`` tokens. At each step with generated
token ``w``, for every head, ``j`` is the argmax of the head's attention row
for the current query; if ``s0 <= j < s1`` and ``prompt[j] == w`` the head
copied from the needle, and its score for this instance grows by
``1 / (s1 - s0)``, once per needle token (the paper's score is the share of the
needle's tokens in the set the head copy-pastes, so it never exceeds 1; a model that
keeps generating and emits a needle token again adds nothing). Instances whose
output recalls the needle's answer (ROUGE-1 recall > 0.5 over answer tokens) are
kept; a head's score is its mean over kept instances, and a retrieval head is one
scoring above 0.1.

Wu et al. score models that pass the test. When the model recalls fewer than
half of its needles (``min_task_recall``), the few kept instances say little
about which heads retrieve: the scores are still returned, but no head is
called a retrieval head.

Prompts are decoded in batches of equal length, all heads at once.

Example:
    >>> import torch
    >>> argmax = torch.tensor([[[[2, 3]]]])  # [batch=1, layer=1, head=1, step=2]
    >>> copy_paste_scores(argmax, torch.tensor([[7, 8]]), torch.tensor([[1, 5, 7, 8]]), [(2, 4)])
    tensor([[[1.]]])
"""

from collections.abc import Sequence

import torch
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from circuits.heads.scores import HeadScores
from interp import HookedModel
from interp.engine.patches import hook_name

RETRIEVAL_THRESHOLD = 0.1
"""Wu et al.'s threshold: a head that copies more than 10% of the needle is a retrieval head."""


def copy_paste_scores(
    argmax_positions: Int[Tensor, "batch layer head step"],
    generated: Int[Tensor, "batch step"],
    prompt_tokens: Int[Tensor, "batch pos"],
    needle_spans: Sequence[tuple[int, int]],
    stopped: Int[Tensor, "batch step"] | None = None,
) -> Float[Tensor, "batch layer head"]:
    """Per-instance copy-paste scores from the attention argmax at each decoding step.

    Args:
        argmax_positions: For each step, the key position each head attends to most.
        generated: The token generated at each step.
        prompt_tokens: The prompts (positions index into these).
        needle_spans: ``(s0, s1)`` per prompt: the needle's token positions.
        stopped: 1 where decoding had already stopped (those steps do not count).
    """
    batch = argmax_positions.shape[0]
    if len(needle_spans) != batch:
        raise ValueError(f"got {len(needle_spans)} needle spans for {batch} prompts; expected one per prompt")
    spans = torch.as_tensor(needle_spans, device=argmax_positions.device)
    s0, s1 = spans[:, 0], spans[:, 1]
    if bool((s1 <= s0).any()) or bool((s0 < 0).any()) or bool((s1 > prompt_tokens.shape[1]).any()):
        raise ValueError(
            f"needle spans must satisfy 0 <= s0 < s1 <= prompt length {prompt_tokens.shape[1]}; "
            f"got {spans.tolist()}"
        )
    in_needle = (argmax_positions >= s0[:, None, None, None]) & (argmax_positions < s1[:, None, None, None])
    safe = argmax_positions.clamp(max=prompt_tokens.shape[1] - 1)
    attended = torch.gather(prompt_tokens[:, None, None, :].expand(*safe.shape[:3], -1), 3, safe)
    hit = in_needle & (attended == generated[:, None, None, :])
    if stopped is not None:
        hit = hit & ~stopped.bool()[:, None, None, :]
    # Each needle token counts once: copying the same token again later adds nothing. Hits are
    # tallied per position inside the needle (offset from s0), not over the whole prompt.
    width = int((s1 - s0).max())
    offset = (argmax_positions - s0[:, None, None, None]).clamp(0, width - 1)
    copied = torch.zeros(*hit.shape[:3], width, dtype=torch.long, device=hit.device)
    copied.scatter_add_(3, offset, hit.long())
    return (copied > 0).sum(-1).float() / (s1 - s0).float()[:, None, None]


def rouge1_recall(generated: Sequence[int], reference: Sequence[int]) -> float:
    """ROUGE-1 recall: the share of reference tokens (with multiplicity) that the output contains."""
    if not reference:
        raise ValueError("the reference answer is empty; expected at least one token")
    remaining = list(generated)
    found = 0
    for token in reference:
        if token in remaining:
            remaining.remove(token)
            found += 1
    return found / len(reference)


@torch.no_grad()
def greedy_decode_with_attention(
    model: HookedModel,
    tokens: Int[Tensor, "batch pos"],
    max_new_tokens: int,
    stop_tokens: Sequence[int] = (),
) -> tuple[Int[Tensor, "batch step"], Int[Tensor, "batch layer head step"], Int[Tensor, "batch step"]]:
    """Greedy decoding that records, at each step, every head's most-attended key position.

    The prompt runs once and each step after it runs one token against the cached keys and values
    (the Hugging Face model's KV cache, with its attention probabilities returned), so decoding
    costs about one forward of the prompt. :func:`greedy_decode_with_attention_hooks` is its slow
    twin, rerunning the whole sequence through the bridge's pattern hooks at every step; it runs
    instead when hooks are attached to the bridge (an ablation, a hand-built head), which the
    Hugging Face model would not run.

    Returns:
        The generated tokens, the attention argmax positions (into the prompt
        plus the tokens generated so far), and a 0/1 mask of steps after a stop token.
    """
    if model.hooks_attached:
        return greedy_decode_with_attention_hooks(model, tokens, max_new_tokens, stop_tokens)
    past = None

    def step(seq: Tensor) -> tuple[Tensor, Tensor]:
        nonlocal past
        new = seq if past is None else seq[:, -1:]  # the cache holds every earlier token
        out = model.hf(new, past_key_values=past, use_cache=True, output_attentions=True)
        past = out.past_key_values
        return out.logits[:, -1], torch.stack([a[:, :, -1, :] for a in out.attentions], dim=1)

    with torch.no_grad():
        return _greedy(model, tokens, max_new_tokens, stop_tokens, step)


def greedy_decode_with_attention_hooks(
    model: HookedModel,
    tokens: Int[Tensor, "batch pos"],
    max_new_tokens: int,
    stop_tokens: Sequence[int] = (),
) -> tuple[Int[Tensor, "batch step"], Int[Tensor, "batch layer head step"], Int[Tensor, "batch step"]]:
    """:func:`greedy_decode_with_attention` the slow, obvious way: the whole sequence through the
    bridge at every step, reading TransformerLens's ``hook_pattern``."""
    names = [hook_name(layer, "pattern") for layer in range(model.n_layers)]

    def step(seq: Tensor) -> tuple[Tensor, Tensor]:
        logits, cache = model.run_with_cache(seq, names_filter=names)
        return logits[:, -1], torch.stack([cache[name][:, :, -1, :] for name in names], dim=1)

    return _greedy(model, tokens, max_new_tokens, stop_tokens, step)


def _greedy(model: HookedModel, tokens: Tensor, max_new_tokens: int, stop_tokens: Sequence[int], step):
    """The decoding loop; ``step(seq) -> (last logits [batch vocab], last attention rows
    [batch layer head key])`` runs the model on the sequence so far."""
    tokens = _check_room(model, tokens)
    seq = tokens
    generated, argmaxes, stopped = [], [], []
    done = torch.zeros(tokens.shape[0], dtype=torch.bool, device=tokens.device)
    stop = torch.tensor(list(stop_tokens), device=tokens.device, dtype=tokens.dtype)
    for _ in range(max_new_tokens):
        if seq.shape[1] >= model.n_ctx:
            break
        logits, rows = step(seq)
        next_token = logits.argmax(-1)
        generated.append(next_token)
        argmaxes.append(rows.argmax(-1))
        stopped.append(done.clone())
        if len(stop):
            done |= torch.isin(next_token, stop)
        seq = torch.cat([seq, next_token[:, None]], dim=1)
        if bool(done.all()):
            break
    return torch.stack(generated, 1), torch.stack(argmaxes, -1), torch.stack(stopped, 1).long()


def _check_room(model: HookedModel, tokens: Tensor) -> Tensor:
    tokens = model.check_tokens(tokens)
    if tokens.shape[1] >= model.n_ctx:
        raise ValueError(
            f"prompts of {tokens.shape[1]} tokens leave no room to decode an answer; expected fewer than "
            f"the model's context of {model.n_ctx} tokens"
        )
    return tokens


def retrieval_scores(
    model: HookedModel,
    prompts: Sequence[Int[Tensor, " pos"]],
    needle_spans: Sequence[tuple[int, int]],
    answers: Sequence[Sequence[int]],
    *,
    max_new_tokens: int = 50,
    batch_size: int = 16,
    recall_threshold: float = 0.5,
    threshold: float = RETRIEVAL_THRESHOLD,
    min_task_recall: float = 0.5,
) -> HeadScores:
    """Wu et al.'s retrieval score of every head over a set of needle-in-a-haystack prompts.

    Args:
        prompts: Token ids of each prompt (context, needle, question), any lengths.
        needle_spans: ``(s0, s1)`` token positions of each needle.
        answers: The answer tokens each needle carries, for the recall filter.
        max_new_tokens: Decoding budget (Wu et al.: 50).
        batch_size: Prompts of equal length decoded together.
        recall_threshold: Keep instances whose output's ROUGE-1 recall exceeds this.
        threshold: Retrieval-head threshold (0.1).
        min_task_recall: Least mean recall over all instances for any head to be called a
            retrieval head (a model that fails the task has none to show).

    Returns:
        ``HeadScores`` of kind ``retrieval`` with evidence columns
        ``n_instances`` (kept) and ``recall`` (mean ROUGE-1 recall of all instances).

    Raises:
        ValueError: When the lengths of the inputs differ, or no instance recalls its needle.
    """
    if not (len(prompts) == len(needle_spans) == len(answers)) or not prompts:
        raise ValueError(
            f"expected as many needle spans and answers as prompts (>0); got {len(prompts)} prompts, "
            f"{len(needle_spans)} spans, {len(answers)} answers"
        )
    stop = [t for t in (model.tokenizer.eos_token_id,) if t is not None]
    by_length: dict[int, list[int]] = {}
    for i, prompt in enumerate(prompts):
        by_length.setdefault(int(prompt.shape[-1]), []).append(i)
    batches = [idx[k : k + batch_size] for idx in by_length.values() for k in range(0, len(idx), batch_size)]
    per_instance = torch.zeros(len(prompts), model.n_layers, model.n_heads)
    recalls = torch.zeros(len(prompts))
    for batch in tqdm(batches, desc="retrieval heads", leave=False):
        tokens = torch.stack([torch.as_tensor(prompts[i]) for i in batch]).to(model.device)
        generated, argmax, stopped = greedy_decode_with_attention(model, tokens, max_new_tokens, stop)
        full = torch.cat([tokens, generated], dim=1)
        scores = copy_paste_scores(argmax, generated, full, [needle_spans[i] for i in batch], stopped)
        for row, i in enumerate(batch):
            kept = generated[row][~stopped[row].bool()].tolist()
            recalls[i] = rouge1_recall(kept, list(answers[i]))
            per_instance[i] = scores[row].cpu()
    keep = recalls > recall_threshold
    if not bool(keep.any()):
        raise ValueError(
            f"no instance recalls its needle (best ROUGE-1 recall {recalls.max().item():.2f}); the model "
            "cannot do this retrieval task, so retrieval scores would be meaningless"
        )
    grid = per_instance[keep].mean(0)
    evidence = {
        "n_instances": torch.full_like(grid, float(keep.sum())),
        "recall": torch.full_like(grid, float(recalls.mean())),
    }
    scores = HeadScores.from_grid("retrieval", grid, threshold, evidence)
    if float(recalls.mean()) < min_task_recall:
        scores.reject(True, f"model recalls {float(recalls.mean()):.2f} of needles < {min_task_recall:g}")
    return scores


def needle_inputs(task) -> tuple[list[Tensor], list[tuple[int, int]], list[list[int]]]:
    """Prompts (up to the question's end), answer spans inside the needle, and answers, from a retrieval task.

    The span is the needle's answer token (the first occurrence of the answer at
    or after the needle's start): the tokens a retrieval head copies.
    """
    if "needle_pos" not in task.metadata:
        raise ValueError(
            f"task {task.name!r} has no 'needle_pos' metadata column; expected a retrieval task that "
            "records where each needle starts (circuits.tasks.retrieval_task)"
        )
    prompts, spans, answers = [], [], []
    for i in range(len(task)):
        tokens = task.clean_tokens[i, : int(task.positions[i]) + 1]
        answer = int(task.answer_tokens[i])
        start = int(task.metadata["needle_pos"].iloc[i])
        hits = (tokens[start:] == answer).nonzero()
        if not len(hits):
            raise ValueError(f"prompt {i} has no answer token {answer} after its needle at {start}")
        s0 = start + int(hits[0])
        prompts.append(tokens)
        spans.append((s0, s0 + 1))
        answers.append([answer])
    return prompts, spans, answers


def find_retrieval_heads_for_task(
    model: HookedModel, task, *, max_new_tokens: int = 8, threshold: float = RETRIEVAL_THRESHOLD
) -> HeadScores:
    """Retrieval heads on a needle-in-a-haystack task (see :func:`needle_inputs`)."""
    prompts, spans, answers = needle_inputs(task)
    return retrieval_scores(
        model, prompts, spans, answers, max_new_tokens=max_new_tokens, threshold=threshold
    )
