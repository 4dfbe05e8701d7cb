"""The speech-side data inputs of a training config, for the stage script (stages 10-12).

    python -m espnet2_ext.recipe.data_inputs --config exp/<name>/config.effective.yaml \\
        --data_dir dump/raw/train --option train_data_path_and_name_and_type [--training] [--write]
    python -m espnet2_ext.recipe.data_inputs --config exp/<name>/config.effective.yaml --stats_suffix

``--config`` is the effective config, as ESPnet resolves the YAML and ``--train_args``
(``espnet2_ext.bin.effective_config``) or as training saved it (``exp/<name>/config.yaml``).
Prints one ``--<option>=path,name,type`` per line: ESPnet's ``<data_dir>/wav.scp,speech,sound``,
unless a plugin (``espnet2_ext.recipe.plugins``) claims the config: then its inputs, whose files
it (re)writes first with ``--write`` (otherwise they must exist). ``--stats_suffix`` prints the
suffix of the config's stage-10 statistics dir instead.
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence

import yaml

from espnet2_ext.errors import DataError, cli_entry
from espnet2_ext.recipe.plugins import Input, Plugin, load_plugins


def inputs_for(config: Mapping[str, Any], data_dir: Path, training: bool, write: bool,
               plugins: Sequence[Plugin]) -> List[Input]:
    """The first plugin's inputs for ``config``, or ESPnet's stock speech input."""
    for plugin in plugins:
        if plugin.data_inputs is not None:
            inputs = plugin.data_inputs(config, data_dir, training, write)
            if inputs is not None:
                return inputs
    return [(str(data_dir / "wav.scp"), "speech", "sound")]


def stats_suffix(config: Mapping[str, Any], plugins: Sequence[Plugin]) -> str:
    return "".join(plugin.stats_suffix(config) for plugin in plugins if plugin.stats_suffix is not None)


def read_config(path: Path) -> Mapping[str, Any]:
    if not path.is_file():
        raise DataError(f"{path}: no such config")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise DataError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(config, dict):
        raise DataError(f"{path}: expected a mapping of options")
    return config


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, type=Path, help="effective training config (YAML)")
    parser.add_argument("--data_dir", type=Path, help="dump dir (wav.scp and what the plugins read)")
    parser.add_argument("--option", help="ESPnet option to print, e.g. train_data_path_and_name_and_type")
    parser.add_argument("--stats_suffix", action="store_true",
                        help="only print the suffix of the config's statistics dir (stage 10)")
    parser.add_argument("--training", action="store_true", help="include the training-only inputs")
    parser.add_argument("--write", action="store_true", help="write the files (else they must exist)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config, plugins = read_config(args.config), load_plugins()
    if args.stats_suffix:
        print(stats_suffix(config, plugins))
        return 0
    if args.data_dir is None or args.option is None:
        parser.error("--data_dir and --option are required (unless --stats_suffix)")
    inputs = inputs_for(config, args.data_dir, args.training, args.write, plugins)
    if not args.write:
        for path, _, _ in inputs:
            if not Path(path).is_file():
                raise DataError(f"{path}: missing (written by stage 10, or stage 12 for test sets)")
    for triple in inputs:
        print(f"--{args.option}={','.join(triple)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
