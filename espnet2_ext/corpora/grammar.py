"""A weighted random context-free grammar read from a small text file.

File format (one alternative per line, ``#`` starts a comment)::

    LHS -> symbol symbol ...  [*weight]

Symbols: ``UPPER_CASE`` nonterminals, lower-case literal words, ``<class>`` word classes and
``[TAG]`` / ``[TAG:kind]`` named entities (both filled by a caller-supplied callback), and
``?symbol`` for an optional symbol taken with probability 1/2. Recursion is rejected when the
grammar is loaded, so every expansion terminates.
"""

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple, Union

from espnet2_ext.errors import at

_NONTERMINAL = re.compile(r"^[A-Z][A-Z0-9_]*$")
_WORD_CLASS = re.compile(r"^<([a-z0-9_.]+)>$")
_ENTITY = re.compile(r"^\[([A-Z]+)(?::([a-z]+))?\]$")
_LITERAL = re.compile(r"^[a-z']+$")
_WEIGHT = re.compile(r"^\*([0-9]+)$")


@dataclass(frozen=True)
class Piece:
    """A run of words; ``tag`` is the entity tag when the words form one named entity."""

    words: Tuple[str, ...]
    tag: Optional[str] = None


@dataclass(frozen=True)
class Terminal:
    """A grammar leaf handed to the filler: kind is 'class' (name) or 'entity' (name, variant)."""

    kind: str
    name: str
    variant: str = ""


Filler = Callable[[Terminal, random.Random], Sequence[Piece]]
_Symbol = Tuple[bool, Union[str, Terminal, Tuple[str, ...]]]  # (optional, symbol)


class Grammar:
    """Rules ``nonterminal -> [(weight, [symbol...])]`` and random expansion."""

    def __init__(self, rules: Dict[str, List[Tuple[int, List[_Symbol]]]]) -> None:
        self.rules = rules

    @classmethod
    def load(cls, path: Union[str, Path]) -> "Grammar":
        rules: Dict[str, List[Tuple[int, List[_Symbol]]]] = {}
        references: Dict[str, Tuple[int, str]] = {}
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                lhs, weight, symbols = _parse_rule(path, lineno, line)
                rules.setdefault(lhs, []).append((weight, symbols))
                for _, symbol in symbols:
                    if isinstance(symbol, str):
                        references.setdefault(symbol, (lineno, lhs))
        for name, (lineno, lhs) in references.items():
            if name not in rules:
                raise at(path, lineno, f"'{lhs}' uses undefined nonterminal '{name}'")
        grammar = cls(rules)
        grammar._check_no_recursion(path)
        return grammar

    def terminals(self) -> Set[Terminal]:
        """All word classes and entity kinds the grammar may ask the filler for."""
        return {s for alts in self.rules.values() for _, syms in alts for _, s in syms if isinstance(s, Terminal)}

    def literals(self) -> Set[str]:
        """All literal words written in the grammar."""
        return {w for alts in self.rules.values() for _, syms in alts for _, s in syms
                if isinstance(s, tuple) for w in s}

    def expand(self, start: str, rng: random.Random, fill: Filler) -> List[Piece]:
        """Expand ``start`` into pieces (a run of consecutive literal words is one piece)."""
        pieces: List[Piece] = []
        weights = [w for w, _ in self.rules[start]]
        _, symbols = rng.choices(self.rules[start], weights=weights)[0]
        for optional, symbol in symbols:
            if optional and rng.random() < 0.5:
                continue
            if isinstance(symbol, str):
                pieces.extend(self.expand(symbol, rng, fill))
            elif isinstance(symbol, Terminal):
                pieces.extend(fill(symbol, rng))
            else:
                pieces.append(Piece(symbol))
        return pieces

    def _check_no_recursion(self, path: Union[str, Path]) -> None:
        done: Set[str] = set()

        def visit(name: str, stack: Sequence[str]) -> None:
            if name in stack:
                raise at(path, None, f"recursive rules: {' -> '.join([*stack, name])}")
            if name in done:
                return
            for _, symbols in self.rules[name]:
                for _, symbol in symbols:
                    if isinstance(symbol, str):
                        visit(symbol, [*stack, name])
            done.add(name)

        for name in self.rules:
            visit(name, [])


def _parse_rule(path: Union[str, Path], lineno: int, line: str) -> Tuple[str, int, List[_Symbol]]:
    lhs, arrow, rhs = line.partition("->")
    lhs = lhs.strip()
    if not arrow or not _NONTERMINAL.match(lhs):
        raise at(path, lineno, f"expected 'NONTERMINAL -> symbols', got '{line}'")
    tokens = rhs.split()
    weight = 1
    if tokens and _WEIGHT.match(tokens[-1]):
        weight = int(tokens.pop()[1:])
    if not tokens:
        raise at(path, lineno, f"'{lhs}' has an empty alternative")
    symbols: List[_Symbol] = []
    for token in tokens:
        optional = token.startswith("?")
        symbol = _parse_symbol(token[1:] if optional else token)
        if symbol is None:
            raise at(path, lineno, f"bad symbol '{token}'")
        # Merge runs of literal words so that they are one piece.
        if isinstance(symbol, tuple) and not optional and symbols and not symbols[-1][0] \
                and isinstance(symbols[-1][1], tuple):
            symbols[-1] = (False, symbols[-1][1] + symbol)
        else:
            symbols.append((optional, symbol))
    return lhs, weight, symbols


def _parse_symbol(token: str) -> Optional[Union[str, Terminal, Tuple[str, ...]]]:
    if _NONTERMINAL.match(token):
        return token
    match = _WORD_CLASS.match(token)
    if match:
        return Terminal("class", match.group(1))
    match = _ENTITY.match(token)
    if match:
        return Terminal("entity", match.group(1), match.group(2) or "")
    if _LITERAL.match(token):
        return (token,)
    return None
