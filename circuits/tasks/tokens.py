"""Turning words and texts into token ids, refusing what a tokenizer cannot express.

Generators build prompts from token ids so that every prompt of a task has the
same length. A word is looked up first with a leading space (GPT-2-like BPE
stores ``" Monday"`` as one token) and then bare (word-level and
SentencePiece tokenizers); the first spelling that is one known token wins.
A word that no spelling makes a single token, or that a word-level tokenizer
maps to its unknown token, is refused with a ``ValueError`` naming it.

Example:
    >>> from interp.testing import tiny_model
    >>> model = tiny_model("gpt2")
    >>> word_token(model, "t7")
    7
    >>> word_token(model, "Monday")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: 'Monday' is not a single token of this tokenizer...
"""

from collections.abc import Sequence

import numpy as np

from interp import HookedModel


def bos_ids(model: HookedModel) -> list[int]:
    """``[bos]`` when the model's prompts start with a BOS token, else ``[]``."""
    bos = getattr(model.tokenizer, "bos_token_id", None)
    if bos is None or not model.bridge.cfg.default_prepend_bos:
        return []
    return [int(bos)]


def _spellings(word: str) -> list[str]:
    return [word] if word.startswith(" ") else [" " + word, word]


def word_token(model: HookedModel, word: str, *, what: str = "") -> int:
    """The single token id of ``word`` (with or without a leading space).

    Args:
        word: The word, e.g. ``"Monday"``.
        what: What the word is for, added to the error message (``"member of set 'days'"``).

    Raises:
        ValueError: When no spelling of ``word`` is exactly one known token; the message names it.
    """
    unk = getattr(model.tokenizer, "unk_token_id", None)
    pieces = None
    for spelling in _spellings(word):
        ids = text_ids(model, spelling)
        if len(ids) == 1 and ids[0] != unk:
            return ids[0]
        pieces = pieces or [model.tokenizer.decode([i]) for i in ids]
    role = f" ({what})" if what else ""
    raise ValueError(
        f"{word!r}{role} is not a single token of this tokenizer: it becomes {pieces}; expected one "
        "known token (choose other words or a model whose vocabulary holds it)"
    )


def word_tokens(model: HookedModel, words: Sequence[str], *, what: str = "") -> list[int]:
    """:func:`word_token` of each word; the first word that fails is named in the error."""
    return [word_token(model, w, what=what) for w in words]


def text_ids(model: HookedModel, text: str) -> list[int]:
    """Token ids of ``text`` without BOS."""
    return [int(i) for i in model.to_tokens(text, prepend_bos=False)[0].tolist()]


def check_known(model: HookedModel, text: str) -> list[int]:
    """Token ids of ``text`` without BOS, refusing words a word-level tokenizer does not know."""
    ids = text_ids(model, text)
    unk = getattr(model.tokenizer, "unk_token_id", None)
    if unk is not None and unk in ids:
        unknown = [w for w in text.split() if unk in text_ids(model, w)]
        raise ValueError(
            f"the tokenizer does not know {unknown[0] if unknown else text!r} (it becomes the unknown token)"
            f" in {text!r}; expected words of its vocabulary"
        )
    return ids


def check_context(model: HookedModel, n_tokens: int, prompt: str) -> None:
    """Refuse a prompt longer than the model's context, naming the prompt."""
    if n_tokens > model.n_ctx:
        shown = prompt if len(prompt) <= 120 else prompt[:60] + " ... " + prompt[-50:]
        raise ValueError(
            f"prompt {shown!r} is {n_tokens} tokens long; expected at most the model's context of "
            f"{model.n_ctx} tokens"
        )


def content_ids(model: HookedModel, exclude: Sequence[int] = ()) -> np.ndarray:
    """Ids of ordinary tokens: the vocabulary less special tokens and ``exclude``."""
    special = set(getattr(model.tokenizer, "all_special_ids", []) or [])
    vocab = min(model.d_vocab, len(model.tokenizer))
    bad = special | {int(i) for i in exclude}
    return np.array([i for i in range(vocab) if i not in bad], dtype=np.int64)
