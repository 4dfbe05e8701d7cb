"""Neighbouring segments of an utterance within its recording, from a ``utt2rec`` file.

``utt2rec`` lines are ``uttid recid index``, where index is the 0-based position of the segment in
its recording before any filtering. A neighbour is reported as None when it lies beyond the
recording's edge or when it is not among the valid utterances (e.g. filtered out of ``wav.scp``).
"""

from typing import AbstractSet, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from espnet2_ext.errors import DataError, at
from espnet2_ext.kaldi_files import PathLike, iter_lines


class NeighbourMap:
    """Looks up the segments at given offsets from an utterance within the same recording."""

    def __init__(self, positions: Mapping[str, Tuple[str, int]], valid: Optional[AbstractSet[str]] = None) -> None:
        """``positions``: uttid -> (recid, index); ``valid``: uttids that may be returned (default: all)."""
        self._positions = dict(positions)
        self._at: Dict[Tuple[str, int], str] = {}
        for uttid, position in self._positions.items():
            if position in self._at:
                recid, index = position
                raise DataError(f"'{uttid}' and '{self._at[position]}' are both segment {index} of '{recid}'")
            self._at[position] = uttid
        self._valid = valid

    @classmethod
    def from_file(cls, utt2rec: PathLike, valid: Optional[AbstractSet[str]] = None) -> "NeighbourMap":
        """Read and validate ``utt2rec`` (errors name the file and line)."""
        return cls.from_files([utt2rec], valid)

    @classmethod
    def from_files(cls, utt2recs: Sequence[PathLike], valid: Optional[AbstractSet[str]] = None) -> "NeighbourMap":
        """Several ``utt2rec`` files in one index space, e.g. a data dir's and that of its segments
        that are only neighbours (``neighbours/utt2rec``): an id or a position in two of them is an
        error naming the later file and line."""
        positions: Dict[str, Tuple[str, int]] = {}
        owner: Dict[Tuple[str, int], str] = {}
        for utt2rec in utt2recs:
            for lineno, uttid, value in iter_lines(utt2rec):
                fields = value.split()
                if len(fields) != 2:
                    raise at(utt2rec, lineno, f"expected 'uttid recid index', got '{uttid} {value}'")
                recid, index_text = fields
                if not index_text.isdigit():
                    raise at(utt2rec, lineno, f"index '{index_text}' of '{uttid}' is not a non-negative integer")
                if uttid in positions:
                    raise at(utt2rec, lineno, f"duplicate id '{uttid}'")
                position = (recid, int(index_text))
                if position in owner:
                    raise at(utt2rec, lineno, f"'{uttid}' has the same recording and index as '{owner[position]}'")
                owner[position] = uttid
                positions[uttid] = position
        return cls(positions, valid)

    def __contains__(self, uttid: object) -> bool:
        return uttid in self._positions

    def position(self, uttid: str) -> Tuple[str, int]:
        """``(recid, index)`` of a known utterance (KeyError otherwise)."""
        return self._positions[uttid]

    def neighbours(self, uttid: str, offsets: Iterable[int] = (-1, 1)) -> Dict[int, Optional[str]]:
        """``{offset: neighbour uttid or None}`` for each offset."""
        recid, index = self._positions[uttid]
        out: Dict[int, Optional[str]] = {}
        for offset in offsets:
            other = self._at.get((recid, index + offset))
            out[offset] = other if other is not None and (self._valid is None or other in self._valid) else None
        return out

    def previous(self, uttid: str) -> Optional[str]:
        return self.neighbours(uttid, (-1,))[-1]

    def next(self, uttid: str) -> Optional[str]:
        return self.neighbours(uttid, (1,))[1]

    def recordings(self) -> Dict[str, List[str]]:
        """recid -> its valid uttids in recording order."""
        out: Dict[str, List[str]] = {}
        for (recid, _), uttid in sorted(self._at.items()):
            if self._valid is None or uttid in self._valid:
                out.setdefault(recid, []).append(uttid)
        return out
