"""Multiply-accumulates (MACs) per second of audio of a trained ASR model, as decoding runs it.

    python -m espnet2_ext.bin.asr_macs <exp_dir> <decode_dir> \\
        --data_path_and_name_and_type dump/raw/test/wav.scp,speech,sound \\
        [--model_file valid.loss.ave.pth] [--num_utts 20]

The model is built by ESPnet's own ASR task from ``<exp_dir>/config.yaml`` and
``<exp_dir>/<model_file>``, as ``Speech2Text`` builds it, so waveform downsampling, removed layers,
CTC upsampling and early exiting are those of decoding. The first ``--num_utts`` utterances of
the ``speech`` input (the inference program's ``--data_path_and_name_and_type`` options, as stage
12 gives them: a context-injection model's is its own two-channel scp; the others are ignored)
come through ESPnet's inference data pipeline one at a time (stage 12 decodes with batch size 1);
``espnet2_ext.fastinf.macs.count_decoding`` says what is counted.

``<decode_dir>/macs.json``: ``num_utts``, ``audio_seconds``, ``encode_macs``, ``ctc_macs``,
``macs`` (their sum), ``macs_per_audio_second``, ``num_params`` (the whole model),
``num_params_frontend``, ``num_params_encoder`` (ESPnet's encoder), ``model_file``, and for an
early-exit model ``mean_exit_layer`` of the counted utterances, exiting by the rule that
decoding used (``<decode_dir>/exit_rule``, e.g. a threshold sweep's ``--exit_threshold``).
"""


import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

from espnet2.utils.types import str2triple_str

from espnet2_ext.errors import DataError, at, cli_entry
from espnet2_ext.fastinf.macs import count_decoding
from espnet2_ext.fastinf.report import exit_rule_of, parse_exit_rule
from espnet2_ext.tasks import ASRTask

MACS_FILE = "macs.json"
DEFAULT_MODEL_FILE = "valid.loss.ave.pth"


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


def count(exp_dir: Path, scp: Path, model_file: str = DEFAULT_MODEL_FILE, num_utts: int = 20,
          exit_rule: Optional[Tuple[str, Optional[float]]] = None) -> Dict[str, Any]:
    """The contents of macs.json for the first ``num_utts`` utterances of the sound ``scp``; an
    early-exit model exits by ``exit_rule`` ((criterion, threshold); None: as trained)."""
    if num_utts < 1:
        raise DataError(f"--num_utts must be at least 1, got {num_utts}")
    model, train_args = load_model(exp_dir, model_file)
    if exit_rule is not None:
        model.set_exit_rule(*exit_rule)
    loader = ASRTask.build_streaming_iterator(
        [(str(scp), "speech", "sound")], dtype="float32", batch_size=1, key_file=None, num_workers=0,
        preprocess_fn=ASRTask.build_preprocess_fn(train_args, False),
        collate_fn=ASRTask.build_collate_fn(train_args, False), allow_variable_data_keys=False,
        inference=True,
    )
    try:
        result = count_decoding(model, (batch["speech"][0] for _, batch in loader), num_utts)
    except ValueError as err:
        raise at(scp, None, str(err)) from None
    return {**result, "model_file": model_file}


def summary_line(result: Dict[str, Any]) -> str:
    return (f"{result['macs_per_audio_second'] / 1e9:.3f} GMACs per audio second "
            f"({result['num_utts']} utterances, {result['audio_seconds']:.1f} s), "
            f"{result['num_params']:,} parameters")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m espnet2_ext.bin.asr_macs",
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
    rule = exit_rule_of(args.decode_dir)
    try:
        exit_rule = None if rule is None else parse_exit_rule(rule)
    except ValueError as err:
        raise at(args.decode_dir / "exit_rule", None, str(err)) from None
    result = count(args.exp_dir, scp, args.model_file, args.num_utts, exit_rule)
    args.decode_dir.mkdir(parents=True, exist_ok=True)
    (args.decode_dir / MACS_FILE).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(summary_line(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
