"""The training config as ESPnet resolves it: the YAML and the command-line overrides, merged.

    python -m espnet2_ext.bin.effective_config --task asr --out exp/<name>/config.effective.yaml \\
        -- --config conf/train_asr.yaml --frontend_conf downsample_factor=3

The task's own parser reads the options after ``--`` exactly as training will (``--config``
gives the defaults, later options override them, ``--*_conf key=value`` updates one key), and
the result is written in the shape of the ``config.yaml`` that training saves. The stage
script's data tools read this file (or, after training, ``config.yaml``), so that what they
prepare follows the model that is trained.
"""

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from espnet2.utils.yaml_no_alias_safe_dump import yaml_no_alias_safe_dump

from espnet2_ext.errors import DataError, cli_entry
from espnet2_ext.kaldi_files import replaced_atomically
from espnet2_ext.tasks import TASKS


def effective_config(task: str, train_args: Sequence[str]) -> dict:
    """``vars()`` of the task parser's namespace for ``train_args``."""
    args = TASKS[task].get_parser().parse_args(list(train_args))
    return {key: value for key, value in vars(args).items() if key not in ("config", "print_config", "required")}


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True, choices=sorted(TASKS))
    parser.add_argument("--out", required=True, type=Path, help="where the YAML goes")
    args = parser.parse_args(argv[:split])
    train_args = argv[split + 1:]
    if "--config" in train_args:
        config = Path(train_args[train_args.index("--config") + 1])
        if not config.is_file():
            raise DataError(f"{config}: no such config")
    config = effective_config(args.task, train_args)
    with replaced_atomically(args.out) as tmp, open(tmp, "w", encoding="utf-8") as f:
        yaml_no_alias_safe_dump(config, f, indent=4, sort_keys=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
