"""Stage 12's decoding shards, resumable: a re-run decodes only the shards that did not finish.

    python -m espnet2_ext.recipe.decode_shards prepare --nj 4 --result_dir 1best_recog \\
        <decode_dir> <test wav.scp> -- <decoding command, with JOB>
    python -m espnet2_ext.recipe.decode_shards merge --result_dir 1best_recog <decode_dir>

``prepare`` prints the shard numbers that still need decoding. The first time, or when anything
decoding depends on changed since (the fingerprint: the shard count, the test set's keys, the
command's words, the content of every file a word names, e.g. the model, its config, the decoding
config and the data lists, and of every file that such a YAML config names, e.g. a language model
or a BPE model), it empties ``<decode_dir>``, splits the keys into ``logdir/keys.<n>.scp`` and
prints every shard. Otherwise it prints the shards whose output is not complete and removes what
such a shard left. A shard is complete when its ``text`` holds exactly its keys and its
``timing.json``, which the decoding program writes after its last utterance, is valid. The audio
that the data lists name is not read.

``merge`` joins the shards' result files into ``<decode_dir>/<name>`` (sorted by key, each file
replaced in one step), after checking that every shard is complete.
"""

import argparse
import hashlib
import shutil
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator, List, Optional, Sequence

import yaml

from espnet2_ext.errors import DataError, cli_entry
from espnet2_ext.kaldi_files import read_map, replaced_atomically, write_map
from espnet2_ext.recipe.rtf import read_timing
from espnet2_ext.recipe.split import write_split

FINGERPRINT = "logdir/fingerprint"


def keys_file(decode_dir: Path, shard: int) -> Path:
    return decode_dir / "logdir" / f"keys.{shard}.scp"


def output_dir(decode_dir: Path, shard: int) -> Path:
    return decode_dir / "logdir" / f"output.{shard}"


def _existing_files(words: Iterable[str]) -> Iterator[Path]:
    """Existing files that words name, as a path or as ESPnet's ``path,name,type``."""
    return (path for path in (Path(word.split(",")[0]) for word in words) if path.is_file())


def _named_files(words: Iterable[str]) -> Iterator[Path]:
    """The files that command words name and, one level down, the files that those of them that
    are YAML configs name in their values."""
    for path in _existing_files(words):
        yield path
        if path.suffix in (".yaml", ".yml"):
            config = yaml.safe_load(path.read_text(encoding="utf-8"))
            yield from _existing_files(str(value) for value in _values(config))


def _values(node: Any) -> Iterator[Any]:
    """The leaves of a YAML document."""
    if isinstance(node, dict):
        node = list(node.values())
    if isinstance(node, list):
        for item in node:
            yield from _values(item)
    else:
        yield node


def fingerprint(nj: int, keys: Path, command: Sequence[str]) -> str:
    """A digest of what the decoding of ``keys`` in ``nj`` shards by ``command`` depends on."""
    digest = hashlib.sha256(f"{nj}\0{chr(0).join(command)}\0".encode())
    for path in [keys, *_named_files(command)]:
        with open(path, "rb") as f:
            digest.update(hashlib.file_digest(f, "sha256").digest())
    return digest.hexdigest()


def shard_complete(decode_dir: Path, shard: int, result_dir: str) -> bool:
    """Whether the shard's text holds exactly its keys and its timing.json is valid."""
    output = output_dir(decode_dir, shard)
    try:
        read_timing(output / "timing.json")
        return read_map(output / result_dir / "text", allow_empty=True).keys() == \
            read_map(keys_file(decode_dir, shard)).keys()
    except (OSError, DataError):  # missing, or cut off mid-line by a kill
        return False


def _start_over(decode_dir: Path, nj: int, keys: Path, digest: str) -> None:
    shutil.rmtree(decode_dir, ignore_errors=True)
    write_split(keys, [keys_file(decode_dir, n) for n in range(1, nj + 1)])
    with replaced_atomically(decode_dir / FINGERPRINT) as tmp:  # last: a kill before it starts over again
        tmp.write_text(digest + "\n", encoding="utf-8")


def prepare(decode_dir: Path, nj: int, keys: Path, result_dir: str, command: Sequence[str]) -> List[int]:
    """The shards still to decode, ``decode_dir`` made ready for them (see the module's doc)."""
    digest = fingerprint(nj, keys, command)
    stored = decode_dir / FINGERPRINT
    if not stored.is_file() or stored.read_text(encoding="utf-8").strip() != digest:
        _start_over(decode_dir, nj, keys, digest)
        return list(range(1, nj + 1))
    todo = [n for n in range(1, nj + 1) if not shard_complete(decode_dir, n, result_dir)]
    for shard in todo:
        shutil.rmtree(output_dir(decode_dir, shard), ignore_errors=True)
    return todo


def merge(decode_dir: Path, result_dir: str) -> List[Path]:
    """``<decode_dir>/<name>`` for every result file of the shards; returns the merged files."""
    shards = sorted(int(p.name.split(".")[1]) for p in (decode_dir / "logdir").glob("keys.*.scp"))
    unfinished = [n for n in shards if not shard_complete(decode_dir, n, result_dir)]
    if not shards or unfinished:
        raise DataError(f"{decode_dir}: decoding shards {unfinished or 'all'} did not finish (run stage 12 again)")
    merged = []
    for name in sorted(p.name for p in (output_dir(decode_dir, shards[0]) / result_dir).iterdir()):
        entries = {}
        for shard in shards:
            entries.update(read_map(output_dir(decode_dir, shard) / result_dir / name, allow_empty=True))
        write_map(decode_dir / name, entries)
        merged.append(decode_dir / name)
    return merged


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m espnet2_ext.recipe.decode_shards", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_prepare = sub.add_parser("prepare", help="print the shards to decode, after starting over if needed")
    p_prepare.add_argument("--nj", type=int, required=True, help="number of shards")
    p_prepare.add_argument("--result_dir", required=True, help="where a shard's output dir has its text")
    p_prepare.add_argument("decode_dir", type=Path)
    p_prepare.add_argument("keys", type=Path, help="the test set's wav.scp")
    p_prepare.add_argument("words", nargs="+", metavar="-- command", help="the decoding command")
    p_merge = sub.add_parser("merge", help="join the shards' result files")
    p_merge.add_argument("--result_dir", required=True)
    p_merge.add_argument("decode_dir", type=Path)
    return parser


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "merge":
        merge(args.decode_dir, args.result_dir)
    else:
        print(" ".join(map(str, prepare(args.decode_dir, args.nj, args.keys, args.result_dir, args.words))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
