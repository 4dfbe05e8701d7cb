"""Make a packed model self-contained: ship the upstream checkpoint its frontend loads, and the
global normalisation statistics of a ``normalize: global_mvn`` system (as asr.sh's packing stage).

At inference ESPnet rebuilds the frontend from ``config.yaml`` before it loads the trained
weights, so the upstream named in ``frontend_conf.weights`` must exist where the model is used.
``espnet2.bin.pack`` only rewrites config values that equal an archive member's name exactly,
and it stores files outside the working directory under absolute names (and directories only as
their files). So this copies a local upstream (a checkpoint with its config.yaml, or a
transformers directory) into ``<outdir>/upstream/`` and writes ``<outdir>/config.yaml`` naming
a file of the copy (a directory by its ``config.json``) by the path pack stores it under; stage 14
packs that config and the copy.

    python -m espnet2_ext.upstream.pack exp/asr_x/config.yaml exp/asr_x/pack

Prints the config to pack, then the files to add with ``--option`` (the upstream copy, the
statistics), one per line. The statistics keep their name: the config names them by the same path
relative to the recipe dir that pack stores them under, so unpack rewrites that value.
"""

import argparse
import shutil
from pathlib import Path
from typing import List, Optional, Sequence

import yaml

from espnet2_ext.errors import DataError, cli_entry


def prepare(config: Path, outdir: Path) -> List[Path]:
    """[config to pack, files to add with ``--option``...]."""
    conf = yaml.safe_load(config.read_text(encoding="utf-8"))
    return [*ship_upstream(config, conf, outdir), *normalisation_stats(config, conf)]


def normalisation_stats(config: Path, conf: dict) -> List[Path]:
    """The ``feats_stats.npz`` that global_mvn loads at inference, if the system uses one."""
    if conf.get("normalize") != "global_mvn":
        return []
    stats = Path((conf.get("normalize_conf") or {}).get("stats_file", ""))
    if not stats.is_file():
        raise DataError(f"{config}: normalize_conf.stats_file '{stats}' does not exist")
    return [stats]


def ship_upstream(config: Path, conf: dict, outdir: Path) -> List[Path]:
    """[config to pack] or [rewritten config, upstream copy] for a local upstream."""
    weights = (conf.get("frontend_conf") or {}).get("weights", "random")
    # ssl_upstream_inject (espnet2_ext.context) runs the same upstream on a segment with its context.
    upstream_frontend = conf.get("frontend") in ("ssl_upstream", "ssl_upstream_inject")
    if not upstream_frontend or weights == "random" or weights.startswith("hf:"):
        return [config]
    source = Path(weights)
    if source.name == "config.json":
        source = source.parent
    if not source.exists():
        raise DataError(f"{config}: frontend_conf.weights '{weights}' does not exist")
    if outdir.exists():
        shutil.rmtree(outdir)  # re-running the stage starts from a clean copy
    upstream = outdir / "upstream"
    if source.is_dir():
        shutil.copytree(source, upstream)
        named = upstream / "config.json"
    else:
        upstream.mkdir(parents=True)
        named = upstream / source.name
        shutil.copy2(source, named)
        if (source.parent / "config.yaml").is_file():  # an ESPnet checkpoint needs its config
            shutil.copy2(source.parent / "config.yaml", upstream / "config.yaml")
    conf["frontend_conf"]["weights"] = str(named)
    packed_config = outdir / "config.yaml"
    packed_config.write_text(yaml.safe_dump(conf, sort_keys=False), encoding="utf-8")
    return [packed_config, upstream]


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=Path, help="the experiment's config.yaml")
    parser.add_argument("outdir", type=Path, help="where the copy and its config go")
    args = parser.parse_args(argv)
    print("\n".join(str(p) for p in prepare(args.config, args.outdir)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
