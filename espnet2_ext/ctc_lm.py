"""CTC prefix beam search with a word n-gram LM (``espnet2_ext.bin.asr_inference --ctc_lm``).

The decoding of Zaiem et al. (2023) is pyctcdecode's beam search with a KenLM 4-gram. pyctcdecode
(0.5.0, its last release) requires numpy < 2, which conflicts with espnet's numpy >= 2, so the same
kind of search is written here: a prefix beam search over the CTC posteriors (Hannun et al.,
2014) whose hypotheses score

    log p_ctc(prefix) + alpha * ln p_lm(words) + beta * len(words)

with the word LM (``espnet2_ext.recipe.ngram.ArpaLM``) applied as each word ends (at ``<space>``
and, with ``</s>``, at the end of the utterance). A partial word that no LM word starts with costs
``alpha * UNK_OFFSET`` until it ends, then its word scores as ``<unk>`` (pyctcdecode penalises such
words with the same offset, -10, in its own way), so that such hypotheses are pruned early. Tokens
of a frame below ``TOKEN_MIN_LOGP`` are not expanded (the frame's best always is) and hypotheses
``BEAM_PRUNE_LOGP`` below the best are dropped (pyctcdecode's defaults; its default beam is 100,
ours 20 for CPU time). alpha = beta = 0 is the LM-free prefix search.

With a :class:`SpanMarkup` (``asr_inference --ctc_lm_markup``, NER) the search also keeps the
entity markup well formed, as a grammar would in a WFST decoder: a token that breaks
``TAG FILL word ... SEP`` is not expanded, and a hypothesis that ends inside a span ranks after
every one that does not (it is still the answer when the whole beam does).
"""

import math
from typing import Collection, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from espnet.nets.beam_search import Hypothesis

from espnet2_ext.recipe.ngram import BOS, EOS, ArpaLM

TOKEN_MIN_LOGP = -5.0
BEAM_PRUNE_LOGP = -10.0
UNK_OFFSET = -10.0
LN10 = math.log(10.0)
SPACE = " "

# ESPnet's char token list -> the search's labels: None is never emitted (<blank> is handled
# apart), " " ends a word; <unk> stays a piece of its word, which is then out of the LM's vocabulary.
# A non-linguistic symbol (``--non_linguistic_symbols``: NER's entity tags) is one token of many
# chars, spelled as in the training text, so the LM knows it as the word it is between spaces.
SPECIAL_LABELS = {"<blank>": None, "<sos/eos>": None, "<space>": SPACE}


def ctc_labels(token_list: Sequence[str], nlsyms: Collection[str] = ()) -> List[Optional[str]]:
    """The search's label of each token of an ESPnet char token list (with its non-linguistic
    symbols ``nlsyms``, the only tokens of more than one char)."""
    labels = [SPECIAL_LABELS.get(token, token) for token in token_list]
    too_long = [t for t, label in zip(token_list, labels)
                if label and label != "<unk>" and len(label) != 1 and t not in nlsyms]
    if too_long:
        raise ValueError(f"word-LM decoding needs a char token list; tokens {too_long[:5]} are not chars "
                         "(nor non-linguistic symbols)")
    return labels


def _logaddexp(a: float, b: float) -> float:
    if a < b:
        a, b = b, a
    return a if b == -math.inf else a + math.log1p(math.exp(b - a))


class SpanMarkup:
    """Which token sequences are well-formed entity markup (SLUE NER: ``TAG FILL word ... SEP``).

    A tag opens a span only outside one; ``fill`` follows the tag before any word; ``close`` ends a
    span that holds a word; spaces are free everywhere. The states below are where a prefix is.
    """

    OUTSIDE, TAGGED, FILLED, INSIDE = range(4)

    def __init__(self, tags: Collection[str], fill: str, close: str):
        self.tags, self.fill, self.close = frozenset(tags), fill, close

    def next(self, state: int, label: str) -> Optional[int]:
        """The state after ``label``; None where the markup forbids it."""
        if label == SPACE:
            return state
        if label in self.tags:
            return self.TAGGED if state == self.OUTSIDE else None
        if label == self.fill:
            return self.FILLED if state == self.TAGGED else None
        if label == self.close:
            return self.OUTSIDE if state == self.INSIDE else None
        if state == self.TAGGED:  # a word char before the fill
            return None
        return self.OUTSIDE if state == self.OUTSIDE else self.INSIDE


class _Prefix:
    """A node of the prefix tree: its tokens, LM context, LM score and markup state (children are
    cached, None for a forbidden token, so the tree's nodes serve as dictionary keys by identity)."""

    __slots__ = ("tokens", "last", "context", "partial", "words_score", "lm_score", "span", "children")

    def __init__(self, tokens: Tuple[int, ...], last: int, context: Tuple[str, ...], partial: str,
                 words_score: float, lm_score: float, span: int = SpanMarkup.OUTSIDE):
        self.tokens, self.last, self.context, self.partial = tokens, last, context, partial
        self.words_score, self.lm_score = words_score, lm_score  # lm_score: with the partial word's
        self.span = span
        self.children: Dict[int, Optional["_Prefix"]] = {}


class WordLMScorer:
    """The LM part of the hypotheses' scores: alpha, beta and the ARPA model; and the entity
    markup they must keep, if any."""

    def __init__(self, lm: ArpaLM, alpha: float, beta: float, markup: Optional[SpanMarkup] = None):
        self.lm, self.alpha, self.beta, self.markup = lm, alpha, beta, markup
        self.context_size = lm.order - 1

    def word(self, context: Tuple[str, ...], word: str) -> float:
        return self.alpha * LN10 * self.lm.log10_prob(context, word)

    def root(self) -> _Prefix:
        return _Prefix((), -1, (BOS,), "", 0.0, 0.0)

    def extend(self, prefix: _Prefix, token: int, label: str) -> Optional[_Prefix]:
        """``prefix`` + ``token`` (cached in the prefix tree); None if the markup forbids it."""
        if token not in prefix.children:
            prefix.children[token] = self._child(prefix, token, label)
        return prefix.children[token]

    def _child(self, prefix: _Prefix, token: int, label: str) -> Optional[_Prefix]:
        span = self.markup.next(prefix.span, label) if self.markup else prefix.span
        if span is None:
            return None
        tokens = prefix.tokens + (token,)
        if label == SPACE and prefix.partial:  # a word ends
            score = prefix.words_score + self.word(prefix.context, prefix.partial) + self.beta
            return _Prefix(tokens, token, self.next_context(prefix), "", score, score, span)
        if label == SPACE:  # a space before any word or after another space
            return _Prefix(tokens, token, prefix.context, "", prefix.words_score, prefix.words_score, span)
        partial = prefix.partial + label
        offset = 0.0 if partial in self.lm.prefixes else self.alpha * UNK_OFFSET
        return _Prefix(tokens, token, prefix.context, partial, prefix.words_score,
                       prefix.words_score + offset, span)

    def complete(self, prefix: _Prefix) -> bool:
        """Whether ``prefix`` may end here: outside any entity span."""
        return prefix.span == SpanMarkup.OUTSIDE

    def final(self, prefix: _Prefix) -> float:
        """The LM score of a whole hypothesis: its last word ended, then ``</s>``."""
        if not prefix.partial:
            return prefix.words_score + self.word(prefix.context, EOS)
        score = prefix.words_score + self.word(prefix.context, prefix.partial) + self.beta
        return score + self.word(self.next_context(prefix), EOS)

    def next_context(self, prefix: _Prefix) -> Tuple[str, ...]:
        """The LM context after ``prefix``'s partial word ends (its last order - 1 words)."""
        return (prefix.context + (prefix.partial,))[-self.context_size:] if self.context_size else ()


def prefix_beam_search(log_probs: np.ndarray, labels: Sequence[Optional[str]], scorer: WordLMScorer,
                       beam: int, blank: int = 0) -> Tuple[List[int], float]:
    """The best token sequence (CTC-collapsed, without blanks) of ``log_probs`` (T, vocab) and its
    score: CTC log-probability of the prefix plus the LM terms."""
    emittable = np.array([label is not None for label in labels])
    emittable[blank] = True
    beams: Dict[_Prefix, Tuple[float, float]] = {scorer.root(): (0.0, -math.inf)}  # (blank, non-blank)
    for frame in np.where(emittable, log_probs, -np.inf):
        candidates = set(np.flatnonzero(frame >= TOKEN_MIN_LOGP).tolist()) | {int(frame.argmax())}
        if scorer.markup:  # the markup may forbid every candidate but the blank: keep it
            candidates.add(blank)
        step: Dict[_Prefix, List[float]] = {}
        for prefix, (p_blank, p_nonblank) in beams.items():
            p_total = _logaddexp(p_blank, p_nonblank)
            for token in candidates:
                p = float(frame[token])
                if token == blank:
                    _add(step, prefix, 0, p_total + p)
                    continue
                child = scorer.extend(prefix, token, labels[token])
                if token == prefix.last:  # a repeat collapses unless a blank separates it
                    _add(step, prefix, 1, p_nonblank + p)
                    if child is not None:
                        _add(step, child, 1, p_blank + p)
                elif child is not None:
                    _add(step, child, 1, p_total + p)
        beams = _prune(step, beam)
    scores = {prefix: _logaddexp(*beams[prefix]) + scorer.final(prefix) for prefix in beams}
    best = max(beams, key=lambda prefix: (scorer.complete(prefix), scores[prefix]))
    return list(best.tokens), scores[best]


def _add(step: Dict[_Prefix, List[float]], prefix: _Prefix, which: int, logp: float) -> None:
    scores = step.setdefault(prefix, [-math.inf, -math.inf])
    scores[which] = _logaddexp(scores[which], logp)


def _prune(step: Dict[_Prefix, List[float]], beam: int) -> Dict[_Prefix, Tuple[float, float]]:
    ranked = sorted(step.items(), key=lambda item: -(_logaddexp(*item[1]) + item[0].lm_score))
    best = _logaddexp(*ranked[0][1]) + ranked[0][0].lm_score
    return {prefix: tuple(scores) for prefix, scores in ranked[:beam]
            if _logaddexp(*scores) + prefix.lm_score >= best + BEAM_PRUNE_LOGP}


class CTCWordLMSearch:
    """Stands in for ``Speech2Text.beam_search``: the prefix beam search with the word LM."""

    nn_dict = torch.nn.ModuleDict()  # inspected by Speech2Text (no decoder here)

    def __init__(self, ctc: torch.nn.Module, sos: int, eos: int, token_list: Sequence[str],
                 scorer: WordLMScorer, beam: int, blank: int = 0, nlsyms: Collection[str] = ()):
        self.ctc, self.sos, self.eos, self.blank = ctc, sos, eos, blank
        self.token_list = list(token_list)  # read by Speech2Text for intermediate CTC outputs
        self.labels, self.scorer, self.beam = ctc_labels(token_list, nlsyms), scorer, beam

    def __call__(self, x: torch.Tensor, maxlenratio: float = 0.0, minlenratio: float = 0.0) -> List[Hypothesis]:
        log_probs = self.ctc.log_softmax(x[None])[0].float().cpu().numpy()  # (T, vocab)
        tokens, score = prefix_beam_search(log_probs, self.labels, self.scorer, self.beam, self.blank)
        yseq = torch.tensor([self.sos, *tokens, self.eos], device=x.device)
        return [Hypothesis(yseq=yseq, score=score)]
