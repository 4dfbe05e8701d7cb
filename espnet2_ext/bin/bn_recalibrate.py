"""Re-estimate a trained model's BatchNorm running statistics on other batches of a data set.

A diagnostic for systems trained on unusual batches (context-aware mode b's recording batches:
a few voices per batch and 28 % padding, which ESPnet's conformer convolution module's
BatchNorm averages over): if re-estimating the statistics on length-sorted batches of the
training audio (as ``numel`` makes them, little padding) recovers the standard system's error
rate, the deficit lies in the statistics, not in the learned weights. The model runs in eval mode
(no dropout, no SpecAugment) except its BatchNorm layers, whose statistics are reset and then
averaged over the batches with equal weight (``momentum=None``); the result is a new checkpoint
beside the old one, decodable with ``--inference_model``::

    python -m espnet2_ext.bin.bn_recalibrate exp/<name> --checkpoint valid.loss.ave.pth \\
        --wav_scp dump/raw/train/wav.scp --out valid.loss.ave_bnrecal.pth
    ./run.sh --targets asr --stage 12 --stop_stage 13 ... --inference_model valid.loss.ave_bnrecal.pth
"""

import argparse
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import soundfile
import torch

from espnet2_ext.errors import DataError, cli_entry
from espnet2_ext.kaldi_files import read_map
from espnet2_ext.tasks import ASRTask, CLSTask

Batch = List[Tuple[str, str]]  # (uttid, audio path)


def sorted_batches(wav_scp: Path, batch_bins: int) -> List[Batch]:
    """The utterances sorted by length, cut into batches of at most ``batch_bins`` padded samples
    (one utterance longer than that is a batch of its own)."""
    paths = read_map(wav_scp)
    try:
        lengths = {u: soundfile.info(p).frames for u, p in paths.items()}
    except (OSError, RuntimeError) as err:
        raise DataError(f"{wav_scp}: cannot read audio: {err}") from err
    batches: List[Batch] = []
    for utt in sorted(paths, key=lambda u: (lengths[u], u)):
        if batches and (len(batches[-1]) + 1) * lengths[utt] <= batch_bins:
            batches[-1].append((utt, paths[utt]))
        else:
            batches.append([(utt, paths[utt])])
    return batches


def padded(batch: Batch) -> Tuple[torch.Tensor, torch.Tensor]:
    audio = [torch.from_numpy(soundfile.read(path, dtype="float32")[0]) for _, path in batch]
    lengths = torch.tensor([len(a) for a in audio])
    return torch.nn.utils.rnn.pad_sequence(audio, batch_first=True), lengths


def trained_model(exp: Path, checkpoint: str, task: str = "asr") -> torch.nn.Module:
    """The ``task`` (asr, cls) model of the experiment dir ``exp`` with the weights ``checkpoint``, on CPU."""
    for path in (exp / "config.yaml", exp / checkpoint):
        if not path.is_file():
            raise DataError(f"{path}: no such file")
    task_class = ASRTask if task == "asr" else CLSTask
    return task_class.build_model_from_file(exp / "config.yaml", exp / checkpoint, "cpu")[0]


@torch.no_grad()
def recalibrate(model: torch.nn.Module, batches: Sequence[Batch]) -> int:
    """Reset and re-estimate every BatchNorm layer's running statistics by running ``encode``;
    returns the number of BatchNorm layers."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        raise DataError(f"{type(model).__name__} has no BatchNorm layer to recalibrate")
    model.eval()
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average: every batch counts the same
        norm.train()
    for batch in batches:
        model.encode(*padded(batch))
    model.eval()
    return len(norms)


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("exp", type=Path, help="the experiment dir (its config.yaml)")
    parser.add_argument("--checkpoint", default="valid.loss.ave.pth", help="model file in the exp dir")
    parser.add_argument("--wav_scp", type=Path, required=True, help="the audio the statistics come from")
    parser.add_argument("--out", required=True, help="file name of the new checkpoint in the exp dir")
    parser.add_argument("--task", choices=("asr", "cls"), default="asr")
    parser.add_argument("--batch_bins", type=int, default=640000, help="padded samples per batch")
    args = parser.parse_args(argv)
    model = trained_model(args.exp, args.checkpoint, args.task)
    batches = sorted_batches(args.wav_scp, args.batch_bins)
    count = recalibrate(model, batches)
    torch.save(model.state_dict(), args.exp / args.out)
    print(f"{args.exp / args.out}: {count} BatchNorm layers re-estimated over {len(batches)} batches "
          f"of {args.wav_scp}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
