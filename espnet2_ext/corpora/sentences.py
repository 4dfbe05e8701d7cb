"""Random sentences of a parliamentary / news register with named entities and evaluative cues.

The grammar (``data/grammar.txt``) draws the structure; word classes come from ``data/nouns.txt``,
``verbs.txt`` and ``adjectives.txt``; entities from :mod:`espnet2_ext.corpora.entities`. A
sentence carries at most one evaluative cue word (``data/cues.txt``) of a polarity chosen by the
caller (see :mod:`espnet2_ext.corpora.sentiment`); no other word depends on sentiment, which is
checked when the lexicon is loaded (cue words appear in no other word list).
"""

import random
from dataclasses import dataclass
from importlib import resources
from typing import Dict, List, Optional, Sequence, Set, Tuple

from espnet2_ext.corpora.entities import EntityBank, read_word_list
from espnet2_ext.corpora.grammar import Grammar, Piece, Terminal
from espnet2_ext.corpora.topics import Topic

POLARITIES = ("Negative", "Neutral", "Positive")
CUE_KINDS = ("adj", "adv", "noun")
_MIN_WORDS, _MAX_WORDS = 4, 30
_VERB_FORMS = ("base", "3sg", "past", "pp", "ing")
# Words spelt with a vowel but spoken with a consonant, and the reverse (for a/an).
_CONSONANT_SOUND_PREFIXES = ("eu", "uni", "use", "usu", "one", "ura", "uro")
_VOWEL_SOUND_PREFIXES = ("hour", "honest", "honour")


@dataclass(frozen=True)
class Sentence:
    """One generated sentence; ``cue`` is the polarity of its evaluative word, if it has one."""

    pieces: Tuple[Piece, ...]
    cue: Optional[str]

    @property
    def words(self) -> List[str]:
        return [word for piece in self.pieces for word in piece.words]

    def text(self) -> str:
        """Plain transcript: lower case, words separated by single spaces."""
        return " ".join(self.words)

    def ner_text(self) -> str:
        """Transcript with each entity written as ``TAG FILL words SEP``."""
        parts = []
        for piece in self.pieces:
            words = " ".join(piece.words)
            parts.append(f"{piece.tag} FILL {words} SEP" if piece.tag else words)
        return " ".join(parts)


class SentenceGenerator:
    """Draws :class:`Sentence` objects from the packaged grammar and word lists."""

    def __init__(self) -> None:
        self.grammar = Grammar.load(str(resources.files(__package__).joinpath("data", "grammar.txt")))
        self.entities = EntityBank()
        self.classes = _load_word_classes()
        self.cues = _load_cues()
        self._check_lexicon()

    def sentence(self, rng: random.Random, cue: Optional[str], topic: Optional[Topic] = None) -> Sentence:
        """A sentence with one evaluative word of polarity ``cue`` (or none when ``cue`` is None);
        with a ``topic``, some nouns and entities are replaced by the topic's own after ``rng`` has
        drawn them, and the sentence is kept or redrawn on its length without them, so ``rng``
        draws the same with or without a topic."""
        start = "S" if cue is None else "S_CUE"
        added_words = 0  # by the topic's replacements, in the sentence being drawn

        def fill(terminal: Terminal, r: random.Random) -> List[Piece]:
            nonlocal added_words
            drawn = self._draw(terminal, r, cue)
            replaced = self._topic_replacement(terminal, topic) if topic else None
            if replaced is None:
                return drawn
            added_words += _length(replaced) - _length(drawn)
            return replaced

        while True:  # rejection keeps sentence lengths in a natural range
            added_words = 0
            pieces = _fix_articles(self.grammar.expand(start, rng, fill))
            if _MIN_WORDS <= _length(pieces) - added_words <= _MAX_WORDS:
                return Sentence(tuple(pieces), cue)

    def _draw(self, terminal: Terminal, rng: random.Random, cue: Optional[str]) -> List[Piece]:
        if terminal.kind == "entity":
            return self.entities.draw(terminal.name, terminal.variant, rng)
        if terminal.name.startswith("cue."):
            return [Piece(tuple(rng.choice(self.cues[cue, terminal.name[4:]]).split()))]
        return [Piece((rng.choice(self.classes[terminal.name]),))]

    def _topic_replacement(self, terminal: Terminal, topic: Topic) -> Optional[List[Piece]]:
        """The topic's word for this slot, or None where the topic leaves the drawn one."""
        if terminal.kind == "entity":
            return topic.entity(terminal.name, terminal.variant)
        noun = topic.noun() if terminal.name.startswith("noun.") else None
        return None if noun is None else [Piece((self.classes[terminal.name][noun],))]

    def cue_phrases(self) -> Dict[Tuple[str, ...], str]:
        """Every cue word or phrase (as a word tuple) and its polarity."""
        return {tuple(phrase.split()): polarity for (polarity, _), phrases in self.cues.items()
                for phrase in phrases}

    def _check_lexicon(self) -> None:
        needed = {t.name for t in self.grammar.terminals() if t.kind == "class"}
        cue_classes = {f"cue.{kind}" for kind in CUE_KINDS}
        missing = needed - set(self.classes) - cue_classes
        if missing:
            raise ValueError(f"grammar uses unknown word classes {sorted(missing)}")
        entity_kinds = {(t.name, t.variant) for t in self.grammar.terminals() if t.kind == "entity"}
        unknown = entity_kinds - set(self.entities.kinds())
        if unknown:
            raise ValueError(f"grammar uses unknown entities {sorted(unknown)}")
        cue_words = {w for phrase in self.cue_phrases() for w in phrase if len(phrase) == 1}
        clashes = cue_words & self._non_cue_vocabulary()
        if clashes:
            raise ValueError(f"cue words also used outside cues: {sorted(clashes)}")

    def _non_cue_vocabulary(self) -> Set[str]:
        words = set(self.grammar.literals())
        for entries in [*self.classes.values(), *self.entities.lists.values()]:
            words.update(w for entry in entries for w in entry.split())
        return words


def _load_word_classes() -> Dict[str, Sequence[str]]:
    nouns = [line.split() for line in read_word_list("nouns.txt")]
    verbs = [line.split() for line in read_word_list("verbs.txt")]
    classes: Dict[str, Sequence[str]] = {
        "noun.sg": [n[0] for n in nouns],
        "noun.pl": [n[1] for n in nouns],
        "adj": read_word_list("adjectives.txt"),
    }
    for index, form in enumerate(_VERB_FORMS):
        classes[f"verb.{form}"] = [v[index] for v in verbs]
    return classes


def _load_cues() -> Dict[Tuple[str, str], List[str]]:
    cues: Dict[Tuple[str, str], List[str]] = {}
    for line in read_word_list("cues.txt"):
        polarity, kind, phrase = line.split(" ", 2)
        if polarity not in POLARITIES or kind not in CUE_KINDS:
            raise ValueError(f"bad cue line '{line}'")
        cues.setdefault((polarity, kind), []).append(phrase)
    return cues


def _length(pieces: Sequence[Piece]) -> int:
    return sum(len(piece.words) for piece in pieces)


def _needs_an(word: str) -> bool:
    if word.startswith(_VOWEL_SOUND_PREFIXES):
        return True
    return word[0] in "aeiou" and not word.startswith(_CONSONANT_SOUND_PREFIXES)


def _fix_articles(pieces: List[Piece]) -> List[Piece]:
    """Turn 'a' into 'an' before a vowel sound (the grammar always writes 'a')."""
    words = [word for piece in pieces for word in piece.words]
    fixed: List[Piece] = []
    position = 0
    for piece in pieces:
        new_words = []
        for word in piece.words:
            position += 1
            following = words[position] if position < len(words) else ""
            new_words.append("an" if word == "a" and following and _needs_an(following) else word)
        fixed.append(Piece(tuple(new_words), piece.tag))
    return fixed
