"""`python -m espnet2_ext.bin.asr_inference`: stock `espnet2.bin.asr_inference`, timed for RTF,
plus ``--ctc_greedy true``: best-path CTC decoding instead of ESPnet's beam search, or
``--ctc_lm <arpa>``: CTC prefix beam search with a word n-gram LM (``espnet2_ext.ctc_lm``, the
kind of decoding the paper does with pyctcdecode + KenLM; options ``--ctc_lm_alpha``,
``--ctc_lm_beta``, ``--ctc_lm_beam``; ``--ctc_lm_markup`` keeps NER's entity markup well formed).
For an early-exit model (``model: early_exit``) it also writes ``1best_recog/exit_layer`` and
``1best_recog/exit_rule``; ``--exit_criterion``/``--exit_threshold`` decode it by another rule
than the one it was trained with (a threshold sweep).
``--upstream_precision fp32|bf16|int8`` runs the upstream in that precision instead of the one it
was trained with (``espnet2_ext.fastinf.precision``).

ESPnet decodes a CTC-only model (no attention decoder) with its beam search and CTC prefix
scorer, which rescans all T frames for every output token, so that search, not the encoder,
dominates decoding time on a CPU. Without an LM the best path (argmax per frame, merge repeats,
drop blanks) is how SSL CTC models are usually decoded (fairseq's viterbi decoder), at the cost of
the encoder alone.
"""

import functools
import sys
from itertools import groupby
from pathlib import Path
from typing import List, Optional, Sequence, Set, Tuple

import torch
from espnet.nets.beam_search import Hypothesis
from espnet2.text.char_tokenizer import CharTokenizer
from espnet2.utils.types import str2bool

from espnet2_ext.bin.timing import run_timed
from espnet2_ext.corpora.slue_metrics import FILL, SEP
from espnet2_ext.ctc_lm import CTCWordLMSearch, SpanMarkup, WordLMScorer
from espnet2_ext.fastinf.early_exit import CRITERIA, EarlyExitASRModel
from espnet2_ext.fastinf.report import EXIT_LAYER_FILE, EXIT_RULE_FILE
from espnet2_ext.fastinf.precision import PRECISIONS, set_upstream_precision
from espnet2_ext.kaldi_files import iter_lines, write_map
from espnet2_ext.recipe.ngram import ArpaLM

import espnet2.bin.asr_inference as stock  # noqa: E402  (after the registrations)


class GreedyCTCSearch:
    """Stands in for ``Speech2Text.beam_search``: the best path of the CTC posteriors."""

    nn_dict = torch.nn.ModuleDict()  # inspected by Speech2Text (no decoder here)

    def __init__(self, ctc: torch.nn.Module, sos: int, eos: int, blank: int = 0):
        self.ctc, self.sos, self.eos, self.blank = ctc, sos, eos, blank

    def __call__(self, x: torch.Tensor, maxlenratio: float = 0.0, minlenratio: float = 0.0) -> List[Hypothesis]:
        log_probs = self.ctc.log_softmax(x[None])[0]  # (T, vocab)
        best, path = log_probs.max(dim=-1)
        tokens = [t for t, _ in groupby(path.tolist()) if t != self.blank]
        yseq = torch.tensor([self.sos, *tokens, self.eos], device=x.device)
        return [Hypothesis(yseq=yseq, score=float(best.sum()))]


def with_greedy_ctc(base: type) -> type:
    """Subclass a Speech2Text class so that it decodes with ``GreedyCTCSearch``."""

    class GreedySpeech2Text(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            model = self.asr_model
            self.beam_search = GreedyCTCSearch(model.ctc, model.sos, model.eos, model.blank_id)

    return GreedySpeech2Text


def with_ctc_word_lm(base: type, lm_path: str, alpha: float, beta: float, beam: int, markup: bool = False) -> type:
    """Subclass a Speech2Text class so that it decodes with ``CTCWordLMSearch`` (the ARPA file is
    read once per process, with the model: not part of the timed decoding); with ``markup``, the
    hypotheses keep SLUE's entity markup well formed (the model's non-linguistic symbols are its
    tags, FILL and SEP)."""

    class WordLMSpeech2Text(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            model = self.asr_model
            nlsyms = model_nlsyms(self.asr_train_args)
            spans = SpanMarkup(nlsyms - {FILL, SEP}, FILL, SEP) if markup else None
            scorer = WordLMScorer(ArpaLM(lm_path), alpha, beta, spans)
            self.beam_search = CTCWordLMSearch(model.ctc, model.sos, model.eos, model.token_list, scorer,
                                               beam, model.blank_id, nlsyms)

    return WordLMSpeech2Text


def model_nlsyms(train_args) -> Set[str]:
    """The non-linguistic symbols the model was trained with (its config's file; read by ESPnet's
    CharTokenizer, which only warns when the file is missing: here that is an error, the search
    could not tell those tokens from a BPE list's)."""
    path = getattr(train_args, "non_linguistic_symbols", None)
    if not path:
        return set()
    if not Path(path).is_file():
        raise FileNotFoundError(f"non_linguistic_symbols '{path}' of the model's config is not there: "
                                "decode from the recipe directory the model was trained in")
    return CharTokenizer(non_linguistic_symbols=path).non_linguistic_symbols


# The options of the word-LM prefix search, in the order search_class unpacks them.
CTC_LM_OPTIONS = ("ctc_lm", "ctc_lm_alpha", "ctc_lm_beta", "ctc_lm_beam", "ctc_lm_markup")


def search_class(kwargs: dict) -> type:
    """The Speech2Text class of the search the options select (and pop from ``kwargs``)."""
    greedy = kwargs.pop("ctc_greedy")
    lm_path, alpha, beta, beam, markup = (kwargs.pop(k) for k in CTC_LM_OPTIONS)
    if greedy and lm_path:
        raise ValueError("--ctc_greedy and --ctc_lm are two searches: choose one")
    if markup and not lm_path:
        raise ValueError("--ctc_lm_markup constrains the --ctc_lm search: give --ctc_lm too")
    if lm_path:
        return with_ctc_word_lm(stock.Speech2Text, lm_path, alpha, beta, beam, markup)
    return with_greedy_ctc(stock.Speech2Text) if greedy else stock.Speech2Text


def with_upstream_precision(base: type, precision: Optional[str]) -> type:
    """Subclass a Speech2Text class so that its model's upstream runs in ``precision`` (None: as
    trained)."""
    if precision is None:
        return base

    class PrecisionSpeech2Text(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            set_upstream_precision(self.asr_model.frontend, precision)

    return PrecisionSpeech2Text


def with_exit_rule(base: type, criterion: Optional[str], threshold: Optional[float]) -> type:
    """Subclass a Speech2Text class so that its early-exit model exits by ``criterion`` (None: the
    trained one) at ``threshold`` (None: the criterion's default); both None: ``base`` itself."""
    if criterion is None and threshold is None:
        return base

    class ExitRuleSpeech2Text(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            model = self.asr_model
            if not isinstance(model, EarlyExitASRModel):
                raise ValueError("--exit_criterion and --exit_threshold apply to early-exit models "
                                 f"(model: early_exit); this model is {type(model).__name__}")
            model.set_exit_rule(criterion or model.exit_criterion, threshold)

    return ExitRuleSpeech2Text


def recording_exits(base: type, exits: List[Tuple[int, str]]) -> type:
    """Subclass a Speech2Text class so that each call on an early-exit model appends to ``exits``
    the layer its utterance exited at and the rule it exited by."""

    class ExitLayerSpeech2Text(base):
        def __call__(self, *args, **kwargs):
            result = super().__call__(*args, **kwargs)
            if isinstance(self.asr_model, EarlyExitASRModel):
                exits.append((self.asr_model.last_exit_layer, self.asr_model.exit_rule))
            return result

    return ExitLayerSpeech2Text


def write_exits(result_dir: Path, exits: List[Tuple[int, str]]) -> None:
    """``result_dir/exit_layer`` and ``result_dir/exit_rule``: the exits, in call order, paired
    with the keys the stock program wrote to ``result_dir/token`` in the same order (one utterance
    per call)."""
    keys = [key for _, key, _ in iter_lines(result_dir / "token")]
    if len(keys) != len(exits):
        raise RuntimeError(f"{len(exits)} exit layers for {len(keys)} decoded utterances in {result_dir}")
    write_map(result_dir / EXIT_LAYER_FILE, {key: str(layer) for key, (layer, _) in zip(keys, exits)})
    write_map(result_dir / EXIT_RULE_FILE, {key: rule for key, (_, rule) in zip(keys, exits)})


def get_parser():
    parser = stock.get_parser()
    parser.add_argument(
        "--ctc_greedy", type=str2bool, default=False,
        help="decode CTC-only models by best path instead of beam search (no LM, no decoder)",
    )
    # Not --ngram_file/--lm_weight: those are the stock token-level scorers of ESPnet's beam search.
    parser.add_argument(
        "--ctc_lm", default=None,
        help="word n-gram LM (ARPA, ssl_ft.sh stage 9) for a CTC prefix beam search of CTC-only models",
    )
    parser.add_argument("--ctc_lm_alpha", type=float, default=0.5, help="weight of the word LM's ln-probability")
    parser.add_argument("--ctc_lm_beta", type=float, default=1.0, help="bonus per word (with --ctc_lm)")
    parser.add_argument("--ctc_lm_beam", type=int, default=20, help="beam width of the --ctc_lm search")
    parser.add_argument("--ctc_lm_markup", type=str2bool, default=False,
                        help="with --ctc_lm: keep SLUE's entity markup (TAG FILL words SEP) well formed")
    parser.add_argument("--exit_criterion", choices=CRITERIA, default=None,
                        help="early-exit models: exit by this criterion (default: as trained)")
    parser.add_argument("--exit_threshold", type=float, default=None,
                        help="early-exit models: at this threshold (default: the criterion's, 0.10 or 0.95)")
    parser.add_argument("--upstream_precision", choices=PRECISIONS, default=None,
                        help="run the ssl_upstream frontend's upstream in this precision (default: as trained)")
    return parser


def main(cmd: Optional[Sequence[str]] = None) -> None:
    argv: List[str] = list(cmd) if cmd is not None else sys.argv[1:]
    kwargs = vars(get_parser().parse_args(argv))
    kwargs.pop("config", None)
    base = with_upstream_precision(search_class(kwargs), kwargs.pop("upstream_precision"))
    base = with_exit_rule(base, kwargs.pop("exit_criterion"), kwargs.pop("exit_threshold"))
    exits: List[Tuple[int, str]] = []
    base = recording_exits(base, exits)
    run_timed(stock, "Speech2Text", "asr_model", argv, run=functools.partial(stock.inference, **kwargs), base=base)
    if exits:
        write_exits(Path(kwargs["output_dir"]) / "1best_recog", exits)


if __name__ == "__main__":
    main()
