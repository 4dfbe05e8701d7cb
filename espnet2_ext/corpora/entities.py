"""Named entities for the synthetic corpus (SLUE-VoxPopuli's combined tags) and numbers as words.

List-based tags (PLACE, ORG, NORP, LAW, PERSON) come from word lists under ``data/``; QUANT and
WHEN are composed from numbers, units and calendar words. A leading "the" in a list entry is
spoken but kept outside the entity span, as in ``the ORG FILL european commission SEP``.
"""

import random
from importlib import resources
from typing import Callable, Dict, List, Sequence, Tuple

import inflect

from espnet2_ext.corpora.grammar import Piece

TAGS = ("PLACE", "QUANT", "ORG", "WHEN", "NORP", "PERSON", "LAW")

MONTHS = ("january february march april may june july august september october november "
          "december").split()
WEEKDAYS = "monday tuesday wednesday thursday friday".split()
_UNITS = ("tonnes", "kilometres", "hectares", "megawatts", "litres", "kilograms")
_WHEN_PHRASES = ("yesterday", "today", "tomorrow", "last year", "last week", "last month",
                 "this year", "this week", "this month", "next year", "next month", "next week",
                 "this morning", "this afternoon", "tonight", "last night", "next spring",
                 "last autumn", "this summer", "next winter")


_INFLECT = inflect.engine()


def _plain(words: str) -> str:
    """inflect's "one thousand, two hundred and forty-two" as the transcripts write it: words
    only, without hyphens and commas."""
    return " ".join(words.replace("-", " ").replace(",", " ").split())


def number_to_words(n: int) -> str:
    """British English words: ``1242`` -> ``one thousand two hundred and forty two``."""
    return _plain(_INFLECT.number_to_words(n))


def ordinal_words(n: int) -> str:
    """``21`` -> ``twenty first``."""
    return _plain(_INFLECT.ordinal(_INFLECT.number_to_words(n)))


def year_words(year: int, rng: random.Random) -> str:
    """A year as spoken: ``nineteen ninety five``, ``two thousand and eight``, ``twenty nineteen``."""
    if year < 2000 or (year >= 2010 and rng.random() < 0.5):
        return number_to_words(year // 100) + " " + number_to_words(year % 100)
    return number_to_words(year)


def read_word_list(name: str) -> List[str]:
    """Entries (one per line, ``#`` comments) of ``data/<name>`` shipped with this package."""
    text = resources.files(__package__).joinpath("data", name).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _cardinal(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.55:
        return number_to_words(rng.randint(2, 20))
    if roll < 0.85:
        return number_to_words(rng.choice((rng.randint(21, 99), 10 * rng.randint(3, 90))))
    return number_to_words(rng.randint(2, 20) * rng.choice((1, 5, 10))) + rng.choice((" thousand", " million"))


def _tagged(tag: str, entry: str) -> List[Piece]:
    """Pieces for a list entry, with a leading 'the' outside the span."""
    words = tuple(entry.split())
    if words[0] == "the" and len(words) > 1:
        return [Piece(("the",)), Piece(words[1:], tag)]
    return [Piece(words, tag)]


class EntityBank:
    """Draws entity spans of a given tag and kind (e.g. ``QUANT:money``)."""

    def __init__(self) -> None:
        self.lists: Dict[str, List[str]] = {
            "PLACE": read_word_list("places.txt"),
            "ORG": read_word_list("organisations.txt"),
            "NORP": read_word_list("norp.txt"),
            "LAW": read_word_list("laws.txt"),
            "first": read_word_list("first_names.txt"),
            "last": read_word_list("last_names.txt"),
        }
        self._composers: Dict[Tuple[str, str], Callable[[random.Random], str]] = {
            ("PERSON", ""): lambda r: f"{r.choice(self.lists['first'])} {r.choice(self.lists['last'])}",
            ("PERSON", "last"): lambda r: r.choice(self.lists["last"]),
            ("QUANT", "card"): _cardinal,
            ("QUANT", "money"): lambda r: f"{_cardinal(r)} {r.choice(('euros', 'million euros', 'billion euros'))}",
            ("QUANT", "percent"): _percent,
            ("QUANT", "ordinal"): lambda r: ordinal_words(r.randint(1, 10)),
            ("QUANT", "measure"): lambda r: f"{_cardinal(r)} {r.choice(_UNITS)}",
            ("WHEN", ""): _when,
            ("WHEN", "year"): lambda r: year_words(r.randint(1990, 2035), r),
            ("WHEN", "month"): lambda r: r.choice(MONTHS),
            ("WHEN", "weekday"): lambda r: r.choice(WEEKDAYS),
            ("WHEN", "date"): lambda r: f"{ordinal_words(r.randint(1, 28))} of {r.choice(MONTHS)}",
            ("WHEN", "span"): _span,
        }

    def kinds(self) -> Sequence[Tuple[str, str]]:
        """All ``(tag, kind)`` pairs this bank can draw."""
        return [*((tag, "") for tag in ("PLACE", "ORG", "NORP", "LAW")), *self._composers]

    def draw(self, tag: str, kind: str, rng: random.Random) -> List[Piece]:
        if (tag, kind) in self._composers:
            return [Piece(tuple(self._composers[tag, kind](rng).split()), tag)]
        if kind or tag not in self.lists:
            raise KeyError(f"unknown entity [{tag}:{kind}]" if kind else f"unknown entity [{tag}]")
        return _tagged(tag, rng.choice(self.lists[tag]))


def _percent(rng: random.Random) -> str:
    number = number_to_words(rng.randint(2, 95))
    if rng.random() < 0.2:
        number += " point " + number_to_words(rng.randint(1, 9))
    return number + " per cent"


def _when(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return rng.choice(_WHEN_PHRASES)
    return f"{number_to_words(rng.randint(2, 12))} {rng.choice(('years', 'months', 'weeks', 'days'))} ago"


def _span(rng: random.Random) -> str:
    return f"{rng.choice(('last', 'past', 'next', 'coming'))} {number_to_words(rng.randint(2, 15))} " \
           f"{rng.choice(('years', 'months', 'weeks'))}"
