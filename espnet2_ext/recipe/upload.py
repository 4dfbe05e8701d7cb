"""Stage 15: a packed model as a Hugging Face model repository (ESPnet asr.sh's stage 16).

    python -m espnet2_ext.recipe.upload --exp exp/asr_asr_train_asr \\
        --packed exp/asr_asr_train_asr/asr_asr_train_asr_valid.loss.ave.zip \\
        --out exp/asr_asr_train_asr/hf_upload --hf_repo org/name --target asr [--upload]

Builds in ``--out`` the tree that ESPnet's model repositories hold: the unzipped pack (``meta.yaml``,
the config, the checkpoint, RESULTS.md, the token list, the packed upstream) and a ``README.md``
model card in the shape of ESPnet's ``TEMPLATE_HF_Readme.md`` (front matter; how to use the model
and how to train it again; the method as its config states it; the exp dir's RESULTS.md; the
config; the ESPnet citation). Without ``--upload`` (a dry run) it stops there and prints the tree.
With it, ``huggingface_hub`` creates the repository if needed and uploads the tree: ESPnet commits
it with git and git-lfs instead, which this project does not need installed. The token is
huggingface_hub's (``hf auth login`` or ``HF_TOKEN``); nothing else here touches the network.

The card describes the method from generic config keys only (the model, frontend and head names and
their options): the recipe toolkit knows no method.
"""

import argparse
import re
import shlex
import shutil
import zipfile
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from espnet2_ext.errors import DataError, cli_entry
from espnet2_ext.recipe.data_inputs import read_config

# espnet2.bin.pack's meta.yaml key of the training config, per task: (ESPnet's task name, hub tag).
TASKS = {
    "asr_train_config": ("ASR", "automatic-speech-recognition"),
    "classification_train_config": ("CLS", "audio-classification"),
}
HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")  # org/name
# ESPnet's licence for its models' cards; a model trained on other data should take that data's
# licence (e.g. FSDD's cc-by-sa-4.0).
DEFAULT_LICENSE = "cc-by-4.0"
# Options that stage 11 adds to the training program from ssl_ft.sh options of the same meaning:
# the card names those options rather than the program's.
STAGE_OPTIONS = {"--init_param": "--pretrained_model", "--ignore_init_mismatch": "--ignore_init_mismatch",
                 "--seed": "--seed"}
# Config parts the method section names, in this order: (key, what it is).
PARTS = (("frontend", "frontend"), ("specaug", "augmentation"), ("normalize", "normalisation"),
         ("preencoder", "pre-encoder"), ("encoder", "encoder"), ("postencoder", "post-encoder"),
         ("decoder", "decoder"), ("model", "model"))
# Parts whose options the method section lists (where the methods' settings live; the other
# parts' options are in the config block).
DETAILED = {"frontend", "model"}
CITATION = """### Citing ESPnet

```BibTex
@inproceedings{watanabe2018espnet,
  author={Shinji Watanabe and Takaaki Hori and Shigeki Karita and Tomoki Hayashi and Jiro Nishitoba and Yuya Unno and Nelson Yalta and Jahn Heymann and Matthew Wiesner and Nanxin Chen and Adithya Renduchintala and Tsubasa Ochiai},
  title={{ESPnet}: End-to-End Speech Processing Toolkit},
  year={2018},
  booktitle={Proceedings of Interspeech},
  pages={2207--2211},
  doi={10.21437/Interspeech.2018-1456},
  url={http://dx.doi.org/10.21437/Interspeech.2018-1456}
}
```

or arXiv:

```bibtex
@misc{watanabe2018espnet,
  title={ESPnet: End-to-End Speech Processing Toolkit},
  author={Shinji Watanabe and Takaaki Hori and Shigeki Karita and Tomoki Hayashi and Jiro Nishitoba and Yuya Unno and Nelson Yalta and Jahn Heymann and Matthew Wiesner and Nanxin Chen and Adithya Renduchintala and Tsubasa Ochiai},
  year={2018},
  eprint={1804.00015},
  archivePrefix={arXiv},
  primaryClass={cs.CL}
}
```
"""


def unpack(packed: Path, out: Path) -> dict:
    """Unzip the pack into a fresh ``out``; return its meta.yaml."""
    if not packed.is_file():
        raise DataError(f"{packed}: no packed model (run stage 14 first)")
    if out.exists():
        shutil.rmtree(out)  # a re-run uploads this pack, not leftovers of an earlier one
    try:
        with zipfile.ZipFile(packed) as archive:
            archive.extractall(out)
    except zipfile.BadZipFile as err:
        raise DataError(f"{packed}: not a zip archive ({err})") from None
    if not (out / "meta.yaml").is_file():
        raise DataError(f"{packed}: no meta.yaml (not made by espnet2.bin.pack)")
    return read_config(out / "meta.yaml")


def task_of(meta: dict, where: Path) -> Tuple[str, str]:
    """(ESPnet's task name, hub task tag) of a pack's meta.yaml."""
    for key, task in TASKS.items():
        if key in (meta.get("yaml_files") or {}):
            return task
    raise DataError(f"{where}: a pack of an unsupported task (yaml_files: {meta.get('yaml_files')})")


def tree_path(path: Path, recipe_dir: Path) -> str:
    """Where the tree holds ``path``: pack ran in the recipe dir and names a file outside it by its
    absolute path, which unzipping puts under the tree without the leading slash."""
    path = path.resolve()
    try:
        return path.relative_to(recipe_dir.resolve()).as_posix()
    except ValueError:
        return path.as_posix().lstrip("/")


def recipe_path(recipe_dir: Path) -> str:
    """``egs2/<corpus>/<recipe>`` of a recipe dir (its name alone outside an egs2 tree)."""
    parts = recipe_dir.resolve().parts
    if "egs2" in parts[:-1]:
        return "/".join(parts[parts.index("egs2"):])
    return recipe_dir.resolve().name


def option_pairs(words: Sequence[str]) -> List[Tuple[str, Optional[str]]]:
    """``--name value`` pairs of a command line (a value is None for a lone flag)."""
    pairs: List[Tuple[str, Optional[str]]] = []
    for word in words:
        if word.startswith("--") or not pairs or pairs[-1][1] is not None:
            pairs.append((word, None))
        else:
            pairs[-1] = (pairs[-1][0], word)
    return pairs


def recorded_training(exp: Path) -> Tuple[Optional[str], List[str]]:
    """The config that stage 11 recorded in ``<exp>/run.sh`` (ESPnet's record of the training
    command) and the options after it; (None, []) without a record."""
    recorded = exp / "run.sh"
    words = shlex.split(recorded.read_text(encoding="utf-8")) if recorded.is_file() else []
    if "--config" not in words[:-1]:
        return None, []
    at = words.index("--config")
    return words[at + 1], words[at + 2:]


def recorded_options(exp: Path) -> Tuple[List[Tuple[str, str]], List[str]]:
    """What stage 11 recorded in ``<exp>/run.sh`` after the config: the ssl_ft.sh options that
    added some of it, and the rest (``--train_args``)."""
    _, extra = recorded_training(exp)
    options, train_args = [], []
    for name, value in option_pairs(extra):
        if name == "--normalize_conf" and (value or "").startswith("stats_file="):
            continue  # stage 11 adds the statistics of stage 10 itself
        if name == "--ignore_init_mismatch" and value == "false":
            continue  # ssl_ft.sh's default
        if name in STAGE_OPTIONS:
            options.append((STAGE_OPTIONS[name], value or ""))
        else:
            train_args += [name] + ([value] if value is not None else [])
    return options, train_args


def training_options(exp: Path, config: dict, target: Optional[str]) -> List[str]:
    """run.sh options that train ``exp`` again: the config (config.yaml's ``config``), what stage
    11 recorded after it, and ``--tag`` unless the exp's name is the one ssl_ft.sh derives."""
    train_config = str(config.get("config") or "")
    options, train_args = recorded_options(exp)
    command = [f"--train_config {shlex.quote(train_config)}"] if train_config else []
    if train_args:
        command.append(f"--train_args {shlex.quote(' '.join(train_args))}")
    command += [f"{name} {shlex.quote(value)}" for name, value in options]
    seed = dict(options).get("--seed")
    tag = exp.name.split("_", 1)[-1]  # exp/<task>_<tag>
    derived = f"{target}_{Path(train_config).stem}" + (f"_seed{seed}" if seed else "")
    if target is None or tag != derived:
        command.append(f"--tag {shlex.quote(tag)}")
    return command


def reproduce_command(exp: Path, config: dict, recipe_dir: Path, target: Optional[str]) -> str:
    """The recipe command that trains, evaluates and packs this model again."""
    run_sh = recipe_dir / "run.sh"
    # A recipe with several targets (mini_slue) runs one of them with --targets, its first option.
    multi = target is not None and run_sh.is_file() and "--targets" in run_sh.read_text(encoding="utf-8")
    head = ["./run.sh"] + ([f"--targets {target}"] if multi else [])
    return " ".join(head + training_options(exp, config, target))


def flatten(conf: object, prefix: str = "") -> List[str]:
    """``key=value`` for every leaf of a nested mapping (nested keys joined with dots)."""
    if not isinstance(conf, dict):
        return [f"{prefix}={scalar(conf)}"] if prefix else []
    items = []
    for key, value in conf.items():
        items += flatten(value, f"{prefix}.{key}" if prefix else str(key))
    return items


def scalar(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(scalar(v) for v in value) + "]"
    return str(value)


def method_lines(config: dict) -> List[str]:
    """The method as the config states it: each part's class name, and the options of the parts
    where methods put their settings (upstream weights, layers kept, downsampling, context...)."""
    lines = []
    for key, what in PARTS:
        name = config.get(key)
        if name is None:
            continue
        options = flatten(config.get(f"{key}_conf") or {}) if key in DETAILED else []
        lines.append(f"- {what}: `{name}`" + (f" ({', '.join(options)})" if options else ""))
    for key in ("init_param", "batch_type", "max_epoch"):
        if config.get(key) not in (None, []):
            lines.append(f"- {key}: `{scalar(config[key])}`")
    return lines


MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")


def rebase_links(markdown: str, base: str, tree: Path) -> str:
    """The exp dir's RESULTS.md as the tree's README.md shows it: a link relative to the exp dir
    points at the same file of the tree (``base`` is the exp dir's path there), and one to a
    file the tree lacks keeps its text only (the hub would show a broken link)."""
    def rebased(match: re.Match) -> str:
        text, target = match.groups()
        if re.match(r"[a-z][a-z0-9+.-]*:|#|/", target):  # a URL, an anchor or an absolute path
            return match.group(0)
        in_tree = f"{base}/{target}"
        return f"[{text}]({in_tree})" if (tree / in_tree).exists() else text
    return MARKDOWN_LINK.sub(rebased, markdown)


def model_card(exp: Path, meta: dict, hf_repo: str, recipe_dir: Path, target: Optional[str],
               license_id: str, lang: str, tree: Path) -> str:
    """README.md of the repository, in the shape of ESPnet's TEMPLATE_HF_Readme.md."""
    results = exp / "RESULTS.md"
    config_path = exp / "config.yaml"
    config = read_config(config_path)
    espnet_task, hub_task = task_of(meta, exp)
    recipe = recipe_path(recipe_dir)
    corpus = recipe.split("/")[1] if recipe.startswith("egs2/") else recipe
    versions = ", ".join(f"{k} {meta[k]}" for k in ("espnet", "torch") if k in meta)
    front = ["---", "tags:", "- espnet", "- audio", f"- {hub_task}", f"language: {lang}",
             "datasets:", f"- {corpus}", f"license: {license_id}", "---", ""]
    body = [
        f"## ESPnet2 {espnet_task} model", "", f"### `{hf_repo}`", "",
        f"This model was trained with the `{recipe}` recipe of espnet2_ext (fine-tuning of "
        f"self-supervised speech encoders) on [ESPnet](https://github.com/espnet/espnet/) ({versions}).",
        "", "### Demo: how to use it", "", "```bash",
        "pip install -e .   # espnet2_ext: registers its model classes in ESPnet",
        f"hf download {hf_repo} --cache-dir ~/.cache/espnet_model_zoo",
        f"python -m espnet2_ext.bin.infer --model {hf_repo} audio.wav", "```", "",
        "### How to train it again", "", "```bash", f"cd {recipe}",
        reproduce_command(exp, config, recipe_dir, target), "```", "",
        f"The data options are the recipe's defaults; `exp/{exp.name}/run.sh` recorded the training "
        "program that ran.", "",
        "### Method", "", *method_lines(config), "",
        rebase_links(results.read_text(encoding="utf-8").rstrip(), tree_path(exp, recipe_dir), tree), "",
        f"## {espnet_task} config", "", "<details><summary>expand</summary>", "", "```",
        config_path.read_text(encoding="utf-8").rstrip(), "```", "", "</details>", "",
        CITATION,
    ]
    return "\n".join(front + body)


def build_tree(exp: Path, packed: Path, out: Path, hf_repo: str, recipe_dir: Path,
               target: Optional[str] = None, license_id: str = DEFAULT_LICENSE, lang: str = "en") -> Path:
    """The repository tree in ``out``: the unzipped pack and README.md."""
    if not (exp / "config.yaml").is_file():
        raise DataError(f"{exp}: not an exp dir (no config.yaml)")
    if not (exp / "RESULTS.md").is_file():  # before unpacking: a failed stage leaves nothing behind
        raise DataError(f"{exp / 'RESULTS.md'}: no results to put on the model card (run stage 13 first)")
    meta = unpack(packed, out)
    card = model_card(exp, meta, hf_repo, recipe_dir, target, license_id, lang, out)
    (out / "README.md").write_text(card, encoding="utf-8")
    return out


def listing(tree: Path) -> List[str]:
    """The tree's files with their sizes."""
    return [f"{path.relative_to(tree).as_posix()}  ({path.stat().st_size:,} bytes)"
            for path in sorted(tree.rglob("*")) if path.is_file()]


def upload(tree: Path, repo_id: str) -> str:
    """Create the hub repository if needed and upload the tree; return the commit's URL."""
    from huggingface_hub import HfApi, constants

    if constants.is_offline_mode():
        raise DataError(f"{tree}: cannot upload to {repo_id}: HF_HUB_OFFLINE is set")
    api = HfApi()
    try:
        api.create_repo(repo_id, exist_ok=True)
        commit = api.upload_folder(repo_id=repo_id, folder_path=str(tree),
                                   commit_message=f"Upload {tree.parent.name} (espnet2_ext stage 15)")
    # huggingface_hub raises its own errors (OSError subclasses: HTTP, token, offline) and, for a
    # connection failure, its HTTP client's: every failure of the two calls is one line here.
    except Exception as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DataError(f"{tree}: upload to {repo_id} failed: {type(err).__name__}: {first}") from None
    return commit.commit_url


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp", type=Path, required=True, help="the exp dir (config.yaml, RESULTS.md)")
    parser.add_argument("--packed", type=Path, required=True, help="stage 14's zip")
    parser.add_argument("--out", type=Path, required=True, help="where the repository tree goes")
    parser.add_argument("--hf_repo", default=None, help="hub id org/name (the card names it)")
    parser.add_argument("--recipe_dir", type=Path, default=Path("."), help="the recipe dir (default: here)")
    parser.add_argument("--target", default=None, help="the recipe's target (asr, ner, sentiment...)")
    parser.add_argument("--license", dest="license_id", default=DEFAULT_LICENSE,
                        help=f"licence of the card's front matter (default: {DEFAULT_LICENSE}, as ESPnet)")
    parser.add_argument("--lang", default="en", help="language of the card's front matter")
    parser.add_argument("--upload", action="store_true", help="upload the tree (default: dry run)")
    return parser


def check_hub_options(hf_repo: Optional[str], upload_it: bool) -> None:
    """One line for a malformed hub id, or an upload without one."""
    if hf_repo is not None and not HUB_ID.fullmatch(hf_repo):
        raise DataError(f"--hf_repo '{hf_repo}': expected a hub id org/name")
    if upload_it and hf_repo is None:
        raise DataError("--upload needs --hf_repo org/name")


def publish(tree: Path, repo: str, upload_it: bool) -> None:
    """Upload the tree, or (a dry run) print what the repository would hold."""
    if upload_it:
        print(f"Uploaded {tree} to {upload(tree, repo)}")
        return
    print(f"Dry run: the repository {repo} would hold {tree}:")
    print("\n".join(f"  {line}" for line in listing(tree)))


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    check_hub_options(args.hf_repo, args.upload)
    repo = args.hf_repo or f"<org>/{args.exp.name}"
    tree = build_tree(args.exp, args.packed, args.out, repo, args.recipe_dir, args.target,
                      args.license_id, args.lang)
    publish(tree, repo, args.upload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
