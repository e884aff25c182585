"""Turning words and texts into token ids, refusing what a tokenizer cannot express.

Generators build prompts from token ids so that every prompt of a task has the
same length. A word is looked up first with a leading space (GPT-2-like BPE
stores ``" Monday"`` as one token) and then bare (word-level tokenizers, and
byte-level BPE that splits digits, such as SmolLM2's ``"3"``), each spelling as
the tokenizer writes it after a line break: SentencePiece tokenizers put a
word-start piece before text on its own, so their bare pieces (llama2.c's ``"3"``,
``"A"``) show only in running text. The first spelling that is one known token wins.
Words that go together (the digits and operators of a sum, the members of a set)
are looked up in one spelling where one serves them all, so that a prompt reads as
the tokenizer would write its text (``"352+417="`` where the digits have no
spaced form). A word that no spelling makes a single token, or that a word-level
tokenizer maps to its unknown token, is refused with a ``ValueError`` naming it.

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

import re
from collections.abc import Sequence

import numpy as np

from interp import HookedModel


def bos_ids(model: HookedModel) -> list[int]:
    """``[bos]`` when the model's prompts start with a BOS token, else ``[]``."""
    bos = getattr(model.tokenizer, "bos_token_id", None)
    if bos is None or not model.bridge.cfg.default_prepend_bos:
        return []
    return [int(bos)]


CONTEXT = "\n"
"""Text a word is also looked up after: a line break, which no tokenizer here merges with what follows."""


def _spellings(word: str) -> list[str]:
    return [word] if word.startswith(" ") else [" " + word, word]


def _one_token(model: HookedModel, text: str) -> int | None:
    """The one known token the tokenizer writes ``text`` as after :data:`CONTEXT` (or on its own,
    where the tokenizer merges the context with ``text``), else None.

    After a line break, SentencePiece's word-start piece does not get in the way: there ``"3"``
    is the bare piece and ``" 3"`` the spaced one, as in running text.
    """
    unk = getattr(model.tokenizer, "unk_token_id", None)
    ids = running_ids(model, text)
    return ids[0] if len(ids) == 1 and ids[0] != unk else None


def token_spellings(model: HookedModel, word: str) -> list[int]:
    """Every distinct single token id that a spelling of ``word`` becomes, with a leading space first."""
    found = [_one_token(model, spelling) for spelling in _spellings(word)]
    return list(dict.fromkeys(t for t in found if t is not None))


def word_token(model: HookedModel, word: str, *, what: str = "") -> int:
    """The single token id of ``word`` (with or without a leading space).

    Args:
        word: The word, e.g. ``"Monday"``.
        what: What the word is for, added to the error message (``"member of set 'days'"``).

    Raises:
        ValueError: When no spelling of ``word`` is exactly one known token; the message names it.
    """
    found = token_spellings(model, word)
    if found:
        return found[0]
    pieces = [model.tokenizer.decode([i]) for i in text_ids(model, _spellings(word)[0])]
    role = f" ({what})" if what else ""
    raise ValueError(
        f"{word!r}{role} is not a single token of this tokenizer: it becomes {pieces}; expected one "
        "known token (choose other words or a model whose vocabulary holds it)"
    )


def leading_tokens(model: HookedModel, words: Sequence[str]) -> list[int]:
    """Single token ids of the longest run of ``words``, from the first, that the tokenizer writes as
    one token each.

    The run is spelled one way where one spelling serves it best: every word with a leading space,
    or every word bare; each word's own first spelling (:func:`word_token`) only where that makes
    the run longer.
    """
    runs = []
    for spell in (lambda w: w if w.startswith(" ") else " " + w, lambda w: w):
        run = []
        for word in words:
            token = _one_token(model, spell(word))
            if token is None:
                break
            run.append(token)
        runs.append(run)
    best = max(runs, key=len)
    if len(best) == len(words):
        return best
    mixed = []
    for word in words:
        found = token_spellings(model, word)
        if not found:
            break
        mixed.append(found[0])
    return best if len(best) >= len(mixed) else mixed


def word_tokens(model: HookedModel, words: Sequence[str], *, what: str | Sequence[str] = "") -> list[int]:
    """:func:`word_token` of each word, all in one spelling where one serves them all
    (:func:`leading_tokens`); the first word that fails is named in the error.

    Args:
        what: What the words are for (one description, or one per word), for the error message.
    """
    ids = leading_tokens(model, words)
    if len(ids) < len(words):
        roles = [what] * len(words) if isinstance(what, str) else list(what)
        word_token(model, words[len(ids)], what=roles[len(ids)])  # raises, naming the word
    return ids


def text_ids(model: HookedModel, text: str) -> list[int]:
    """Token ids of ``text`` without BOS (none for text the tokenizer drops, such as a line break in a
    whitespace-split vocabulary)."""
    return [int(i) for i in model.bridge.to_tokens(text, prepend_bos=False, truncate=False)[0].tolist()]


def running_ids(model: HookedModel, text: str) -> list[int]:
    """Token ids of ``text`` as it continues running text (after :data:`CONTEXT`), for prompts
    joined from pieces: without the word-start piece a SentencePiece tokenizer puts before text
    on its own (which would double every space between pieces). Where the tokenizer merges the
    context with ``text``, :func:`text_ids`."""
    prefix, full = text_ids(model, CONTEXT), text_ids(model, CONTEXT + text)
    return full[len(prefix) :] if full[: len(prefix)] == prefix else text_ids(model, text)


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


_BYTE_PIECE = re.compile(r"<0x[0-9A-Fa-f]{2}>")


def byte_fallback_ids(model: HookedModel) -> set[int]:
    """Ids of a SentencePiece vocabulary's byte-fallback pieces (``<0x41>``), which stand for raw bytes
    of text its pieces cannot spell and are rare in training text; empty for other tokenizers."""
    vocab = min(model.d_vocab, len(model.tokenizer))
    pieces = model.tokenizer.convert_ids_to_tokens(list(range(vocab)))
    return {i for i, piece in enumerate(pieces) if isinstance(piece, str) and _BYTE_PIECE.fullmatch(piece)}


def content_ids(model: HookedModel, exclude: Sequence[int] = ()) -> np.ndarray:
    """Ids of ordinary tokens: the vocabulary less special tokens, byte-fallback pieces and ``exclude``."""
    special = set(getattr(model.tokenizer, "all_special_ids", []) or [])
    vocab = min(model.d_vocab, len(model.tokenizer))
    bad = special | byte_fallback_ids(model) | {int(i) for i in exclude}
    return np.array([i for i in range(vocab) if i not in bad], dtype=np.int64)
