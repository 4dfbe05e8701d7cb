"""Multiply-accumulates (MACs) per second of audio of a trained ASR model, as decoding runs it.

    python -m espnet2_ext.recipe.macs <exp_dir> <decode_dir> \\
        --data_path_and_name_and_type dump/raw/test/wav.scp,speech,sound \\
        [--model_file valid.loss.ave.pth] [--num_utts 20]

The model is built by ESPnet's own ASR task from ``<exp_dir>/config.yaml`` and
``<exp_dir>/<model_file>``, as ``Speech2Text`` builds it, so waveform downsampling, removed layers,
CTC upsampling and early exiting are those of decoding. The first ``--num_utts`` utterances of
the ``speech`` input (the inference program's ``--data_path_and_name_and_type`` options, as stage
12 gives them: a context-injection model's is its own two-channel scp; the others are ignored)
come through ESPnet's inference data pipeline one at a time (stage 12 decodes with batch size 1),
and ``espnet2_ext.fastinf.macs.count_macs`` counts, per utterance, what ``Speech2Text`` runs before
its search: the model's ``encode()`` (downsampler, upstream CNN and transformer, ESPnet encoder
and post-encoder; for an early-exit model only the layers up to the one it exits at, and the exit
heads and CTC posteriors it tried on the way) and the CTC projection of its output, which
best-path decoding applies. An attention decoder and a beam search are not counted. Audio is
counted as ``rtf.json`` counts it (a context-injection input: its segment only).

``<decode_dir>/macs.json``: ``num_utts``, ``audio_seconds``, ``encode_macs``, ``ctc_macs``,
``macs`` (their sum), ``macs_per_audio_second``, ``num_params`` (the whole model),
``num_params_frontend``, ``num_params_encoder`` (ESPnet's encoder), ``model_file``, and for an
early-exit model ``mean_exit_layer`` of the counted utterances.
"""

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
from espnet2.utils.types import str2triple_str

from espnet2_ext.bin.timing import SAMPLE_RATE
from espnet2_ext.context.inject import segment_num_samples
from espnet2_ext.errors import DataError, at, cli_entry
from espnet2_ext.fastinf.early_exit import EarlyExitASRModel
from espnet2_ext.fastinf.macs import count_macs
from espnet2_ext.tasks import ASRTask

MACS_FILE = "macs.json"
DEFAULT_MODEL_FILE = "valid.loss.ave.pth"


def _num_params(module: Optional[torch.nn.Module]) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def speech_scp(inputs: Sequence[Tuple[str, str, str]]) -> Path:
    """The path of the ``speech`` input among ESPnet's (path, name, type) triples; it must exist."""
    paths = [path for path, name, _ in inputs if name == "speech"]
    if not paths:
        raise DataError(f"no speech input among --data_path_and_name_and_type {[','.join(t) for t in inputs]}")
    scp = Path(paths[0])
    if not scp.is_file():
        raise DataError(f"{scp}: no such file (the speech scp)")
    return scp


def load_model(exp_dir: Path, model_file: str) -> Any:
    """The model and training args, built by ESPnet's ASR task as ``Speech2Text`` builds them."""
    if not exp_dir.is_dir():
        raise DataError(f"{exp_dir}: not an experiment directory")
    config, model = exp_dir / "config.yaml", exp_dir / model_file
    for path in (config, model):
        if not path.is_file():
            raise at(path, None, "missing (written by stage 11, training)")
    asr_model, train_args = ASRTask.build_model_from_file(config, model, "cpu")
    return asr_model.eval(), train_args


def count(exp_dir: Path, scp: Path, model_file: str = DEFAULT_MODEL_FILE, num_utts: int = 20) -> Dict[str, Any]:
    """The contents of macs.json for the first ``num_utts`` utterances of the sound ``scp``."""
    if num_utts < 1:
        raise DataError(f"--num_utts must be at least 1, got {num_utts}")
    model, train_args = load_model(exp_dir, model_file)
    loader = ASRTask.build_streaming_iterator(
        [(str(scp), "speech", "sound")], dtype="float32", batch_size=1, key_file=None, num_workers=0,
        preprocess_fn=ASRTask.build_preprocess_fn(train_args, False),
        collate_fn=ASRTask.build_collate_fn(train_args, False), allow_variable_data_keys=False,
        inference=True,
    )
    totals = {"num_utts": 0, "audio_seconds": 0.0, "encode_macs": 0, "ctc_macs": 0}
    exit_layers = []
    for _, batch in loader:
        speech = batch["speech"][0]  # as Speech2Text is given it: one utterance, (samples[, channels])
        encoded = {}

        def encode() -> None:  # Speech2Text.__call__, up to its search
            speech_batch = speech[None]
            lengths = speech_batch.new_full([1], dtype=torch.long, fill_value=speech_batch.size(1))
            enc, _ = model.encode(speech_batch, lengths)
            encoded["enc"] = enc[0] if isinstance(enc, tuple) else enc  # intermediate CTC: the last

        totals["encode_macs"] += count_macs(encode)
        if model.ctc is not None:
            totals["ctc_macs"] += count_macs(lambda: model.ctc.log_softmax(encoded["enc"]))
        if isinstance(model, EarlyExitASRModel):
            exit_layers.append(model.last_exit_layer)
        totals["audio_seconds"] += segment_num_samples(speech) / SAMPLE_RATE
        totals["num_utts"] += 1
        if totals["num_utts"] == num_utts:
            break
    if totals["num_utts"] == 0 or totals["audio_seconds"] <= 0:
        raise at(scp, None, "no audio to count MACs on")
    macs = totals["encode_macs"] + totals["ctc_macs"]
    result: Dict[str, Any] = {
        **totals,
        "macs": macs,
        "macs_per_audio_second": macs / totals["audio_seconds"],
        "num_params": _num_params(model),
        "num_params_frontend": _num_params(model.frontend),
        "num_params_encoder": _num_params(model.encoder),
        "model_file": model_file,
    }
    if exit_layers:
        result["mean_exit_layer"] = sum(exit_layers) / len(exit_layers)
    return result


def summary_line(result: Dict[str, Any]) -> str:
    return (f"{result['macs_per_audio_second'] / 1e9:.3f} GMACs per audio second "
            f"({result['num_utts']} utterances, {result['audio_seconds']:.1f} s), "
            f"{result['num_params']:,} parameters")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m espnet2_ext.recipe.macs",
        description="Count the MACs that decoding runs per second of audio (encoder path: "
        "downsampler, upstream, encoder, early exits, CTC projection) of <exp_dir>'s model on the "
        "first utterances of its speech input, and write <decode_dir>/macs.json.",
    )
    parser.add_argument("exp_dir", type=Path, help="experiment dir with config.yaml and the model file")
    parser.add_argument("decode_dir", type=Path, help="decoding directory (<exp>/<tag>/<set>) for macs.json")
    parser.add_argument("--data_path_and_name_and_type", type=str2triple_str, action="append", required=True,
                        help="as the inference program's (repeat); the one named speech is read")
    parser.add_argument("--model_file", default=DEFAULT_MODEL_FILE,
                        help="checkpoint in <exp_dir> (default: %(default)s)")
    parser.add_argument("--num_utts", type=int, default=20,
                        help="count the first N utterances of the scp (default: %(default)s)")
    return parser


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    scp = speech_scp(args.data_path_and_name_and_type)
    result = count(args.exp_dir, scp, args.model_file, args.num_utts)
    args.decode_dir.mkdir(parents=True, exist_ok=True)
    (args.decode_dir / MACS_FILE).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(summary_line(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
