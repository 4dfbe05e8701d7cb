"""Stage 5: the token list ``<outdir>/tokens.txt`` (ESPnet asr.sh stage 5, without ``spm_train``).

    python -m espnet2_ext.recipe.tokens --token_type char|word|bpe --text dump/raw/train/text \\
        --outdir data/token_list/char [--nbpe 100] [--bpemode unigram] [--nlsyms "FILL,SEP"] \\
        [--oov "<unk>"] [--blank "<blank>"] [--sos_eos "<sos/eos>"] [--add_symbols "A,B"]
    python -m espnet2_ext.recipe.tokens --label_list --text dump/raw/train/text.sentiment --outdir ...

ESPnet's order: ``<blank>``, ``<unk>``, the ``--add_symbols``, the tokens, ``<sos/eos>``.

* char/word: ESPnet's CharTokenizer/WordTokenizer split the transcripts and the tokens are
  listed like ``espnet2.bin.tokenize_text --write_vocabulary`` does (most frequent first, ties
  in order of appearance). For char, space becomes ``<space>`` and the ``--nlsyms`` stay whole.
* ``--nlsyms`` are also written to ``<outdir>/nlsyms.txt`` (for ``--non_linguistic_symbols``).
* bpe: sentencepiece trains ``bpe.model``/``bpe.vocab`` with the add_symbols and nlsyms as
  ``user_defined_symbols`` (never split); the list is bpe.vocab minus ``<unk>``, ``<s>``, ``</s>``.
* label_list (classification): the sorted labels, then ``<unk>`` last, because ESPnet's CLS
  task uses ``len(token_list) - 1`` classes (espnet2/tasks/cls.py) so that the label ids are
  ``0..n-1`` and ``<unk>`` is outside them.
"""

import argparse
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import List, Optional, Sequence

import sentencepiece
from espnet2.text.abs_tokenizer import AbsTokenizer
from espnet2.text.char_tokenizer import CharTokenizer
from espnet2.text.word_tokenizer import WordTokenizer

from espnet2_ext.errors import at, cli_entry
from espnet2_ext.kaldi_files import PathLike, iter_lines

TOKENS_FILE = "tokens.txt"
_SENTENCEPIECE_SPECIALS = 3  # <unk>, <s>, </s> open bpe.vocab


def _write_lines(path: Path, lines: Sequence[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def _unique(items: Sequence[str]) -> List[str]:
    """First occurrences, in order (a symbol added explicitly may also be counted in the text)."""
    return list(dict.fromkeys(items))


def count_tokens(text: PathLike, tokenizer: AbsTokenizer) -> List[str]:
    """Tokens of the transcripts, most frequent first, ties in order of first appearance.

    This is espnet2.bin.tokenize_text's ``--write_vocabulary`` order (written out here because
    importing that module takes seconds: it pulls in g2p_en, which also tries nltk downloads).
    """
    counts = Counter(
        token for _, _, value in iter_lines(text) for token in tokenizer.text2tokens(" ".join(value.split()))
    )
    return [token for token, _ in sorted(counts.items(), key=lambda item: -item[1])]


def char_word_tokens(
    text: PathLike,
    outdir: PathLike,
    token_type: str,
    nlsyms: Sequence[str] = (),
    add_symbols: Sequence[str] = (),
    blank: str = "<blank>",
    oov: str = "<unk>",
    sos_eos: str = "<sos/eos>",
) -> Path:
    """tokens.txt for char tokens (space is ``<space>``; nlsyms and add_symbols stay whole) or words."""
    if token_type == "char":
        tokenizer: AbsTokenizer = CharTokenizer(
            non_linguistic_symbols=nlsyms, space_symbol="<space>", nonsplit_symbols=add_symbols
        )
    else:
        tokenizer = WordTokenizer()
    counted = count_tokens(text, tokenizer)
    return _write_lines(Path(outdir) / TOKENS_FILE, _unique([blank, oov, *add_symbols, *counted, sos_eos]))


def bpe_tokens(
    text: PathLike,
    outdir: PathLike,
    nbpe: int,
    bpemode: str = "unigram",
    nlsyms: Sequence[str] = (),
    add_symbols: Sequence[str] = (),
    blank: str = "<blank>",
    oov: str = "<unk>",
    sos_eos: str = "<sos/eos>",
) -> Path:
    """Train outdir/bpe.model with sentencepiece and write tokens.txt from bpe.vocab."""
    outdir = Path(outdir)
    train_text = _write_lines(outdir / "train.txt", [value for _, _, value in iter_lines(text)])
    try:
        sentencepiece.SentencePieceTrainer.train(
            input=str(train_text), vocab_size=nbpe, model_type=bpemode, model_prefix=str(outdir / "bpe"),
            character_coverage=1.0, input_sentence_size=100000000,
            user_defined_symbols=_unique([*add_symbols, *nlsyms]), minloglevel=1,
        )
    except RuntimeError as err:  # e.g. "Vocabulary size too high (500). Please set it to a value <= 87."
        raise at(text, None, f"sentencepiece cannot train {bpemode} with {nbpe} tokens: {err}") from None
    vocab = outdir / "bpe.vocab"
    pieces = [line.split("\t")[0] for line in vocab.read_text(encoding="utf-8").splitlines()]
    return _write_lines(outdir / TOKENS_FILE, [blank, oov, *pieces[_SENTENCEPIECE_SPECIALS:], sos_eos])


def label_list(text: PathLike, outdir: PathLike, oov: str = "<unk>") -> Path:
    """tokens.txt for ESPnet's CLS task: sorted labels (words of the values), then oov."""
    labels = sorted({label for _, _, value in iter_lines(text) for label in value.split()})
    if not labels:
        raise at(text, None, "no labels found")
    if oov in labels:
        raise at(text, None, f"'{oov}' is used as a label but is the unknown-label symbol")
    return _write_lines(Path(outdir) / TOKENS_FILE, [*labels, oov])


def _symbols(text: str) -> List[str]:
    return text.replace(",", " ").split()


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write <outdir>/tokens.txt in ESPnet order: <blank>, <unk>, added symbols, tokens, "
        "<sos/eos> (char/word with ESPnet's tokenizers, bpe with sentencepiece); or, with --label_list, "
        "the sorted labels then <unk> for ESPnet's classification task.",
    )
    parser.add_argument("--token_type", choices=("char", "word", "bpe"), help="required without --label_list")
    parser.add_argument("--label_list", action="store_true", help="classification label list")
    parser.add_argument("--text", required=True, help="text file with utterance ids ('uttid transcript')")
    parser.add_argument("--outdir", required=True)
    parser.add_argument("--nbpe", type=int, default=100, help="bpe vocabulary size (incl. <unk>, <s>, </s>)")
    parser.add_argument("--bpemode", choices=("unigram", "bpe", "char", "word"), default="unigram")
    parser.add_argument("--nlsyms", default="", help="non-linguistic symbols kept whole (comma/space separated)")
    parser.add_argument("--add_symbols", default="", help="symbols placed after <unk> even if unseen")
    parser.add_argument("--oov", default="<unk>")
    parser.add_argument("--blank", default="<blank>")
    parser.add_argument("--sos_eos", default="<sos/eos>")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    specials = dict(blank=args.blank, oov=args.oov, sos_eos=args.sos_eos)
    symbols = dict(nlsyms=_symbols(args.nlsyms), add_symbols=_symbols(args.add_symbols))
    if symbols["nlsyms"]:
        _write_lines(Path(args.outdir) / "nlsyms.txt", symbols["nlsyms"])
    if args.label_list:
        tokens = label_list(args.text, args.outdir, args.oov)
    elif args.token_type == "bpe":
        tokens = bpe_tokens(args.text, args.outdir, args.nbpe, args.bpemode, **symbols, **specials)
    elif args.token_type in ("char", "word"):
        tokens = char_word_tokens(args.text, args.outdir, args.token_type, **symbols, **specials)
    else:
        parser.error("--token_type is required (or --label_list)")
    logging.info("%s: %d tokens", tokens, sum(1 for _ in open(tokens, encoding="utf-8")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
