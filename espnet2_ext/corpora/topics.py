"""A recording-level topic for mini_slue: vocabulary that recurs across a recording's sentences.

In the default corpus every sentence draws its nouns and named entities from the whole lexicon, so
for ASR and NER a sentence's neighbours share only the voice. With a topic (``--topic_share P`` of
:mod:`espnet2_ext.corpora.mini_slue`), each recording draws 3 nouns and one place,
organisation, group (NORP), law and person of its own; every noun slot, and every entity slot of
those tags, of its sentences takes the topic's word with probability P instead of the one the
lexicon gave. Neighbours then reveal many of a sentence's content words, which nothing else
tells (the topic's words are drawn uniformly from the same lists as every other word). The topic has a random stream of its own and replaces
words only after the sentence's stream has drawn them, so sentence structure, cue words, labels
and voices are those of the corpus without a topic.

How much the neighbours reveal is measured, not restated: ``python -m espnet2_ext.corpora.topics
data/train data/dev data/test`` (or ``--planned_shares 0.5 0.7`` for the corpus as it would be
generated) prints, as JSON, the share of a segment's content words (nouns,
and the words of its topic-kind entities) found among its neighbours' (the segments at index
+-1 of its recording) against those of the segments at the same indices of another recording
(:func:`measure_recurrence`).
"""

import argparse
import json
import random
import sys
from importlib import resources
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from espnet2_ext.context.neighbours import NeighbourMap
from espnet2_ext.corpora.entities import EntityBank, read_word_list
from espnet2_ext.corpora.grammar import Grammar, Piece
from espnet2_ext.errors import DataError, cli_entry
from espnet2_ext.kaldi_files import read_map

TOPIC_NOUNS = 3
# Entity tags of which a topic has one entity (quantities and dates stay free).
TOPIC_TAGS = ("PLACE", "ORG", "NORP", "LAW", "PERSON")


class Topic:
    """One recording's topic words, and its own random stream for the slots it takes."""

    def __init__(self, bank: EntityBank, num_nouns: int, rng: random.Random, share: float) -> None:
        if not 0.0 < share <= 1.0:
            raise ValueError(f"topic share must be in (0, 1]: {share}")
        self.share = share
        self.rng = rng
        self.nouns = rng.sample(range(num_nouns), TOPIC_NOUNS)  # indices: singular and plural agree
        self.entities = {tag: bank.draw(tag, "", rng) for tag in TOPIC_TAGS}

    def noun(self) -> Optional[int]:
        """The index of a topic noun for this slot, or None to keep the lexicon's word."""
        return self.rng.choice(self.nouns) if self.rng.random() < self.share else None

    def entity(self, tag: str, kind: str) -> Optional[List[Piece]]:
        """The topic's entity of ``tag`` for this slot (of ``kind``), or None to keep the drawn one."""
        if tag not in self.entities or self.rng.random() >= self.share:
            return None
        pieces = self.entities[tag]
        if kind == "last":  # [PERSON:last]: the topic's person by the last name, as EntityBank draws it
            return [Piece(pieces[-1].words[-1:], tag)]
        return pieces


# ------------------------------------------------------------------ measuring the recurrence

Segment = Tuple[Set[str], Set[str]]  # (nouns, entity spans "TAG words") of one segment


def content_words(ner_text: str, nouns: Dict[str, str]) -> Segment:
    """The nouns (as their singular: ``nouns`` maps both forms to it) and the topic-kind entity
    spans (a person by the last name, as a topic's person recurs as "first last" or "last") of a
    ``text.ner`` line (``TAG FILL words SEP``)."""
    found_nouns: Set[str] = set()
    spans: Set[str] = set()
    words = ner_text.split()
    position = 0
    while position < len(words):
        if position + 1 < len(words) and words[position + 1] == "FILL" and "SEP" in words[position:]:
            end = words.index("SEP", position)
            tag, span = words[position], words[position + 2:end]
            if tag in TOPIC_TAGS:
                spans.add(" ".join([tag, *(span[-1:] if tag == "PERSON" else span)]))
            position = end + 1
            continue
        if words[position] in nouns:
            found_nouns.add(nouns[words[position]])
        position += 1
    return found_nouns, spans


def _recall(own: Set[str], context: Iterable[Set[str]]) -> Optional[float]:
    seen = set().union(*context)
    return len(own & seen) / len(own) if own else None


def measure_recurrence(recordings: Sequence[Sequence[Segment]]) -> Dict[str, float]:
    """Mean share of a segment's nouns and entity spans that its neighbours (index +-1) contain,
    and, as the chance level, that the segments at the same indices of the next recording contain
    (recordings in the given order, the last paired with the first; indices beyond the other
    recording's end are left out)."""
    if len(recordings) < 2:
        raise DataError(f"need at least two recordings to compare with another one, got {len(recordings)}")
    scores: Dict[str, List[float]] = {}
    for rec_index, recording in enumerate(recordings):
        other = recordings[(rec_index + 1) % len(recordings)]
        for t, segment in enumerate(recording):
            for name, context in (("neighbours", recording), ("other_recording", other)):
                around = [context[i] for i in (t - 1, t + 1) if 0 <= i < len(context)]
                for kind, index in (("nouns", 0), ("entities", 1)):
                    value = _recall(segment[index], (s[index] for s in around))
                    if value is not None and around:
                        scores.setdefault(f"{kind}_in_{name}", []).append(value)
    return {name: round(sum(values) / len(values), 4) for name, values in sorted(scores.items())}


def noun_forms() -> Dict[str, str]:
    """Singular and plural of every noun of the lexicon (``data/nouns.txt``) -> the singular. Left
    out are nouns that other words of a sentence produce too, where the text does not tell a noun
    slot's word from them: the grammar's own ("the vote on", in every recording), verb forms
    ("to fund") and cue phrases ("a routine matter")."""
    grammar = Grammar.load(str(resources.files(__package__).joinpath("data", "grammar.txt")))
    ambiguous = grammar.literals()
    for name, first_field in (("verbs.txt", 0), ("cues.txt", 2)):  # cues: "polarity kind phrase"
        ambiguous |= {w for line in read_word_list(name) for w in line.split()[first_field:]}
    return {form: line.split()[0] for line in read_word_list("nouns.txt")
            if not ambiguous & set(line.split()) for form in line.split()}


def read_data_dir(data_dir: Path, nouns: Dict[str, str]) -> List[List[Segment]]:
    """The segments' content words, per recording in segment order (``text.ner``, ``utt2rec``)."""
    ner = read_map(data_dir / "text.ner")
    recordings = NeighbourMap.from_file(data_dir / "utt2rec", valid=set(ner)).recordings()
    return [[content_words(ner[u], nouns) for u in utts] for utts in recordings.values()]


def planned_recordings(shares: Sequence[float], seed: int, nouns: Dict[str, str]) -> Dict[str, List[List[Segment]]]:
    """Per topic share, the segments of mini_slue's default-size corpus as planned (its text only:
    what generating it would write, without synthesising it)."""
    from espnet2_ext.corpora.mini_slue import SIZES, plan_corpus  # it imports this module

    return {str(share): [[content_words(sentence.ner_text(), nouns) for sentence in plan.sentences]
                         for plans in plan_corpus(seed, SIZES["default"], share).values() for plan in plans]
            for share in shares}


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Measure how much of a segment's nouns and named entities its neighbours contain, "
                    "against the same positions of another recording, on mini_slue data dirs or on the "
                    "corpus as planned for given topic shares (prints JSON)."
    )
    parser.add_argument("data_dirs", nargs="*", type=Path, help="data dirs with text.ner and utt2rec")
    parser.add_argument("--planned_shares", nargs="+", type=float, default=[],
                        help="instead: mini_slue's default corpus (all splits) as planned with these "
                             "--topic_share values, text only (seconds, no synthesis)")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed of --planned_shares (default 0)")
    args = parser.parse_args(argv)
    if bool(args.data_dirs) == bool(args.planned_shares):
        parser.error("give data dirs or --planned_shares")
    nouns = noun_forms()
    if args.planned_shares:
        planned = planned_recordings(args.planned_shares, args.seed, nouns)
        print(json.dumps({share: measure_recurrence(recs) for share, recs in planned.items()}, indent=1))
        return 0
    recordings = [rec for d in args.data_dirs for rec in read_data_dir(d, nouns)]
    print(json.dumps(measure_recurrence(recordings), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
