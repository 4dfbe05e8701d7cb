"""Utterances that CTC cannot align at a reduced frame rate (espnet2_ext/fastinf/README.md).

CTC emits at most one token per frame and needs a blank between two equal tokens, so a
transcript of U tokens with R adjacent repeats needs at least U + R frames. At 50/k frames per
second (k-fold downsampling), character transcripts of fast speech run out of frames.

    python -m espnet2_ext.fastinf.feasibility --num_samples dump/raw/train/utt2num_samples \\
        --text dump/raw/train/text --downsample av --factor 4 [--upsample 2] [--token_type char]

prints ``uttid frames needed`` for each infeasible utterance, and a summary on stderr.
"""

import argparse
import sys
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import torch
from espnet2.text.abs_tokenizer import AbsTokenizer

from espnet2_ext.errors import at, cli_entry
from espnet2_ext.upstream.downsample import DOWNSAMPLERS, Downsampler, build_downsampler
from espnet2_ext.kaldi_files import read_map
from espnet2_ext.upstream.architectures import ARCHITECTURES


class Infeasible(NamedTuple):
    utt: str
    frames: int
    needed: int


def ctc_min_frames(tokens: Sequence[str]) -> int:
    """Fewest CTC frames that can emit ``tokens``: one per token, plus a blank per adjacent repeat."""
    return len(tokens) + sum(a == b for a, b in zip(tokens, tokens[1:]))


def encoder_frames(
    num_samples: torch.Tensor,
    conv_layers: Sequence[Tuple[int, int, int]],
    downsampler: Optional[Downsampler] = None,
    upsample: int = 1,
) -> torch.Tensor:
    """CTC frames for waveforms of ``num_samples``: downsampler, the upstream CNN's
    (channels, kernel, stride) layers as torchaudio counts them, then r-fold upsampling."""
    n = downsampler.output_lengths(num_samples) if downsampler is not None else num_samples
    for _, kernel, stride in conv_layers:
        n = (torch.div(n - kernel, stride, rounding_mode="floor") + 1).clamp(min=0)
    return n * upsample


def infeasible_utterances(frames: Mapping[str, int], tokens: Mapping[str, Sequence[str]]) -> List[Infeasible]:
    """Utterances (in ``tokens`` order) with fewer ``frames`` than their tokens need."""
    needed = {utt: ctc_min_frames(toks) for utt, toks in tokens.items()}
    return [Infeasible(utt, frames[utt], n) for utt, n in needed.items() if frames[utt] < n]


def _tokenizer(token_type: str, bpemodel: Optional[str]) -> AbsTokenizer:
    # ESPnet's tokenizers, imported one by one (build_tokenizer pulls in g2p and nltk downloads).
    if token_type == "char":
        from espnet2.text.char_tokenizer import CharTokenizer

        return CharTokenizer(non_linguistic_symbols=None, space_symbol="<space>")
    if token_type == "word":
        from espnet2.text.word_tokenizer import WordTokenizer

        return WordTokenizer()
    from espnet2.text.sentencepiece_tokenizer import SentencepiecesTokenizer

    if bpemodel is None:
        raise ValueError("--token_type bpe needs --bpemodel")
    return SentencepiecesTokenizer(bpemodel)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num_samples", required=True, help="utt2num_samples (or a speech_shape file)")
    parser.add_argument("--text", required=True, help="transcripts, 'uttid text'")
    parser.add_argument("--token_type", choices=("char", "word", "bpe"), default="char")
    parser.add_argument("--bpemodel", default=None)
    parser.add_argument("--downsample", choices=sorted(DOWNSAMPLERS), default=None)
    parser.add_argument("--factor", type=int, default=None, help="downsampling factor k")
    parser.add_argument("--kernel_size", type=int, default=None, help="cl/av kernel (default: the module's)")
    parser.add_argument("--upsample", type=int, default=1, help="CTC frames per encoder frame r")
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES), default="hubert_base",
                        help="named architecture whose CNN layout counts frames")
    return parser


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    conf: Dict[str, int] = {} if args.kernel_size is None else {"kernel_size": args.kernel_size}
    downsampler = build_downsampler(args.downsample, args.factor, conf)
    samples = read_map(args.num_samples)
    tokenizer = _tokenizer(args.token_type, args.bpemodel)
    tokens = {utt: tokenizer.text2tokens(" ".join(text.split())) for utt, text in read_map(args.text).items()}
    missing = sorted(set(tokens) - set(samples))
    if missing:
        raise at(args.num_samples, None, f"no length for {len(missing)} utterances of {args.text}, e.g. {missing[0]}")
    utts = list(tokens)
    counts = encoder_frames(torch.tensor([int(samples[u].split(",")[0]) for u in utts]),
                            ARCHITECTURES[args.arch]["extractor_conv_layer_config"], downsampler, args.upsample)
    bad = infeasible_utterances(dict(zip(utts, counts.tolist())), tokens)
    for item in bad:
        print(f"{item.utt} {item.frames} {item.needed}")
    print(f"{len(bad)} of {len(utts)} utterances are CTC-infeasible with downsample={args.downsample} "
          f"x{args.factor} upsample={args.upsample}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
