"""The word-level vocabulary shared by the zoo models, and its tokenizer.

One token per word, split on whitespace, BOS prepended. The words:

- specials ``<unk> <bos> <eos> <pad>``;
- digits ``0``-``9`` and ``+ - =`` (arithmetic);
- ``is ? next`` (the retrieval needle and question, the successor cue);
- the members of Gould et al.'s ordinal sets that are single words (number words,
  ordinals, days, months, capital letters; :data:`circuits.tasks.token_sets.ZOO_SETS`);
- the needle keys and values of :mod:`circuits.tasks.retrieval`;
- filler: the most frequent words of the haystack text (Milton's Areopagitica) that
  are none of the above.

Example:
    >>> words = zoo_words()
    >>> words[:4], "Monday" in words, len(words) == len(set(words))
    (['<unk>', '<bos>', '<eos>', '<pad>'], True, True)
"""

from functools import cache
from pathlib import Path

from interp.word_tokenizer import SPECIALS

SYMBOLS = tuple(str(d) for d in range(10)) + ("+", "-", "=", "is", "?", "next")
N_FILLER = 180
"""Filler words taken from the haystack."""


@cache
def zoo_sets() -> dict[str, tuple[str, ...]]:
    """Members of each ordinal set the zoo vocabulary holds."""
    from circuits.tasks.token_sets import ORDINAL_SETS, ZOO_SETS

    return {name: ORDINAL_SETS[name].members for name in ZOO_SETS}


@cache
def zoo_filler() -> tuple[str, ...]:
    """The filler words: frequent haystack words outside every other group."""
    from circuits.tasks.retrieval import KEYS, VALUES, haystack_words

    taken = set(SYMBOLS) | set(KEYS) | set(VALUES) | {m.lower() for s in zoo_sets().values() for m in s}
    taken |= {m for s in zoo_sets().values() for m in s}
    return tuple(w for w in haystack_words(N_FILLER + 60) if w not in taken)[:N_FILLER]


@cache
def zoo_words() -> list[str]:
    """Every word of the vocabulary, in id order."""
    from circuits.tasks.retrieval import KEYS, VALUES

    words = list(SPECIALS) + list(SYMBOLS)
    for members in zoo_sets().values():
        words += [m for m in members if m not in words]
    words += [w for w in (*KEYS, *VALUES) if w not in words]
    words += list(zoo_filler())
    return words


def zoo_tokenizer(folder: str | Path | None = None):
    """The zoo's word-level tokenizer, saved to ``folder`` (a temporary one by default) and reloaded."""
    from interp.word_tokenizer import word_level_tokenizer

    return word_level_tokenizer(zoo_words(), folder)
