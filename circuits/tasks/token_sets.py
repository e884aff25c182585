"""Ordinal token sets of Gould et al. 2023 ("Successor Heads"), as words.

Each set is ordered; days and months (and their abbreviations) are cyclic. In
GPT-2-like BPE tokenizers the members are single tokens with a leading space
(``" Monday"``); :func:`circuits.tasks.tokens.word_token` finds the spelling.

Example:
    >>> ORDINAL_SETS["days"].successor("Sunday")
    'Monday'
    >>> ORDINAL_SETS["letters"].members[:3]
    ('A', 'B', 'C')
"""

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class OrdinalSet:
    """An ordered set of words.

    Attributes:
        name: The set's name.
        members: The words in order.
        cyclic: Whether the last member is followed by the first.
    """

    name: str
    members: tuple[str, ...]
    cyclic: bool = False

    def successor(self, word: str) -> str | None:
        """The member after ``word`` (``None`` after the last member of a non-cyclic set)."""
        i = self.members.index(word)
        if i + 1 < len(self.members):
            return self.members[i + 1]
        return self.members[0] if self.cyclic else None

    def with_successor(self) -> tuple[str, ...]:
        """The members that have a successor."""
        return self.members if self.cyclic else self.members[:-1]


_NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"
).split()
_ORDINALS = "first second third fourth fifth sixth seventh eighth ninth tenth".split()
_DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
_MONTHS = "January February March April May June July August September October November December".split()

ORDINAL_SETS: dict[str, OrdinalSet] = {
    s.name: s
    for s in (
        OrdinalSet(name="numbers", members=tuple(str(i) for i in range(1, 201))),
        OrdinalSet(name="number_words", members=tuple(_NUMBER_WORDS)),
        OrdinalSet(name="ordinals", members=tuple(_ORDINALS)),
        OrdinalSet(name="days", members=tuple(_DAYS), cyclic=True),
        OrdinalSet(name="day_abbreviations", members=tuple(d[:3] for d in _DAYS), cyclic=True),
        OrdinalSet(name="months", members=tuple(_MONTHS), cyclic=True),
        OrdinalSet(name="month_abbreviations", members=tuple(m[:3] for m in _MONTHS), cyclic=True),
        OrdinalSet(name="letters", members=tuple(chr(ord("A") + i) for i in range(26))),
    )
}
"""Gould et al.'s sets: numbers 1-200, number words, ordinals, days, months (and abbreviations), letters."""

ZOO_SETS = ("number_words", "ordinals", "days", "months", "letters")
"""The sets whose members the zoo's word vocabulary holds."""
