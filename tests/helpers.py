"""Small fixture writers shared by the tests (imported as ``helpers``; pytest puts tests/ on sys.path)."""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Sequence, Tuple

import numpy as np
import pytest
import soundfile
import torch

from espnet2_ext.upstream.frontend import SSLUpstreamFrontend

ROOT = Path(__file__).resolve().parents[1]


def write_lines(path: Path, lines: List[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def write_sine(path: Path, n_samples: int, fs: int = 16000) -> Path:
    soundfile.write(path, 0.3 * np.sin(np.arange(n_samples) * 2 * np.pi * 440 / fs), fs)
    return path


def write_slue_tsv(path: Path, header: Sequence[str], rows: Iterable[Mapping[str, str]]) -> Path:
    """A TSV in SLUE's format: the header, then per row the values of its columns, tab-separated."""
    return write_lines(path, ["\t".join(header), *("\t".join(row[name] for name in header) for row in rows)])


def write_slue_corpus(root: Path, splits: Iterable[Tuple[str, str, Sequence[str], Sequence[Mapping[str, str]]]],
                      extension: str, n_samples: int) -> Path:
    """A miniature corpus in SLUE's layout: per split ``(audio folder, TSV name, header, rows)``, its
    TSV and, per row, a tone of ``n_samples`` at 16 kHz in ``<folder>/<id><extension>`` (the format
    that libsndfile gives the extension: Ogg Vorbis, FLAC...)."""
    for folder, tsv, header, rows in splits:
        (root / folder).mkdir(parents=True, exist_ok=True)
        write_slue_tsv(root / tsv, header, rows)
        for row in rows:
            write_sine(root / folder / f"{row['id']}{extension}", n_samples)
    return root


def corpus_fixtures(write: Callable[[Path], Path], prepare: Callable[[Path, Path], object]):
    """A corpus test module's fixtures ``corpus`` (the miniature corpus that ``write`` writes into a
    module temporary dir) and ``prepared`` (``(data root, prepare(corpus, data root))``); use as
    ``corpus, prepared = corpus_fixtures(write_corpus, module.prepare)``."""

    @pytest.fixture(scope="module")
    def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
        return write(tmp_path_factory.mktemp("corpus"))

    @pytest.fixture(scope="module")
    def prepared(corpus: Path, tmp_path_factory: pytest.TempPathFactory):
        data = tmp_path_factory.mktemp("data")
        return data, prepare(corpus, data)

    return corpus, prepared


def copy_recipes(tmp: Path) -> Tuple[Path, Dict[str, str]]:
    """A copy of egs2/ (without generated data, e.g. ``exp/``, ``exp_9/`` or ``dump_topic0.7/``
    of a work tree) and an environment that runs its recipes with this interpreter's tools and a
    private corpus dir, as a user would."""
    shutil.copytree(
        ROOT / "egs2", tmp / "egs2", symlinks=True,
        ignore=shutil.ignore_patterns("data", "dump*", "exp*", "downloads", "RESULTS.md"),
    )
    shutil.copytree(ROOT / "conf", tmp / "conf")  # configs the recipes share (linked from their conf/)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MINI_SLUE": str(tmp / "corpus"),
    }
    return tmp / "egs2", env


def run_corpus_recipe(tmp: Path, recipe: str, corpus_env: Dict[str, str], options: List[str]) -> Path:
    """``./run.sh <options>`` of ``egs2/<recipe>/asr1`` in a copy_recipes copy, with the corpus
    that ``corpus_env`` (db.sh's variable) names; returns the copy's recipe dir."""
    egs2, env = copy_recipes(tmp)
    path = egs2 / recipe / "asr1"
    run(["./run.sh", *options], path, {**env, **corpus_env})
    return path


def replace_once(root: Path, name: str, old: str, new: str) -> None:
    """Replace the one occurrence of ``old`` in the text file ``root/name`` (damage to a fixture)."""
    path = root / name
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path}: {old!r} occurs {text.count(old)} times"
    path.write_text(text.replace(old, new), encoding="utf-8")


def check_bad_corpus(main: Callable[[List[str]], int], corpus: Path, tmp_path: Path, capsys,
                     damage: Callable[[Path], None], message: str) -> None:
    """A copy of a fixture corpus, damaged, stops a corpus CLI ``main`` (--corpus_dir, --outdir)
    with exit status 1 and the one line ``ERROR: <copy>/<message>`` before it writes anything;
    ``{root}`` and ``{resolved}`` in ``message`` stand for the copy's path and its resolved path."""
    root = tmp_path / "corpus"
    shutil.copytree(corpus, root)
    damage(root)
    assert main(["--corpus_dir", str(root), "--outdir", str(tmp_path / "data")]) == 1
    assert capsys.readouterr().err == f"ERROR: {root}/{message.format(root=root, resolved=root.resolve())}\n"
    assert not (tmp_path / "data").exists()  # every TSV is checked before anything is written


def run(cmd: List[str], cwd: Path, env: Dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    """Run a recipe command; on failure, fail the test with the end of its stderr."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
    return proc


# A small random upstream for model tests: 3 layers of 64, the HuBERT CNN layout with 32 channels.
SMALL_UPSTREAM = {
    "extractor_conv_layer_config": [[32, 10, 5]] + [[32, 3, 2]] * 4 + [[32, 2, 2]] * 2,
    "encoder_embed_dim": 64, "encoder_num_layers": 3, "encoder_num_heads": 2,
    "encoder_ff_interm_features": 128, "encoder_pos_conv_kernel": 16, "encoder_pos_conv_groups": 4,
}


def small_frontend(**kwargs) -> SSLUpstreamFrontend:
    torch.manual_seed(0)
    return SSLUpstreamFrontend(weights="random", arch="tiny", arch_conf=SMALL_UPSTREAM, **kwargs)


def noise_batch(lengths=(16000, 12000, 9000)) -> Tuple[torch.Tensor, torch.Tensor]:
    """Padded noise waves of the given lengths (seeded) and their lengths."""
    torch.manual_seed(1)
    return 0.1 * torch.randn(len(lengths), max(lengths)), torch.tensor(lengths)


# A tiny transformers wav2vec2/HuBERT/WavLM config (kwargs of their config classes).
TINY_HF = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64,
               conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
# The checkpoints that the SLUE recipes' configs fine-tune (conf/tuning/train_<target>_hf_<name>_*.yaml):
# name -> transformers model type.
HF_CHECKPOINTS = {"hubert_base": "hubert", "wav2vec2_base": "wav2vec2", "wavlm_large": "wavlm"}
# A token list per ESPnet task: characters for CTC, the sentiment labels (then <unk>) for cls.
TINY_TOKENS = {"asr": "<blank>\n<unk>\na\nb\n<sos/eos>\n", "cls": "Negative\nNeutral\nPositive\n<unk>\n"}


def tiny_hf_checkpoints(root: Path) -> Dict[str, Path]:
    """A tiny transformers directory of each model type of HF_CHECKPOINTS, under its name."""
    from transformers import AutoConfig, AutoModel

    torch.manual_seed(0)
    for name, model_type in HF_CHECKPOINTS.items():
        AutoModel.from_config(AutoConfig.for_model(model_type, **TINY_HF)).save_pretrained(root / name)
    return {name: root / name for name in HF_CHECKPOINTS}


def train_step_on_tiny_checkpoint(task: str, config: Path, checkpoints: Dict[str, Path], tmp_path: Path):
    """A recipe's config as shipped, with the tiny checkpoint of the type its name names (its
    width given to the head): the model, its optimiser and its schedule build, one batch gives a
    finite loss, and one update changes the trainable weights. Returns the options training
    resolves, the model and the schedule, for the caller's own checks."""
    from espnet2.schedulers.abs_scheduler import AbsValEpochStepScheduler
    from espnet2.tasks.abs_task import scheduler_classes

    from espnet2_ext.bin.effective_config import effective_config
    from espnet2_ext.tasks import TASKS

    (checkpoint,) = [path for name, path in checkpoints.items() if f"_{name}_" in config.name]
    (tmp_path / "tokens.txt").write_text(TINY_TOKENS[task])
    args = argparse.Namespace(**effective_config(task, [
        "--config", str(config), "--frontend_conf", f"weights={checkpoint}",
        "--encoder_conf", f"output_size={TINY_HF['hidden_size']}",
        "--token_list", str(tmp_path / "tokens.txt"), "--output_dir", str(tmp_path / "exp")]))
    model = TASKS[task].build_model(args)
    (optimizer,) = TASKS[task].build_optimizers(args, model)
    scheduler = scheduler_classes[args.scheduler](optimizer, **args.scheduler_conf)
    model.train()
    torch.manual_seed(0)
    batch = {"speech": torch.randn(2, 8000), "speech_lengths": torch.tensor([8000, 6000])}
    if task == "asr":
        batch.update(text=torch.tensor([[2, 3], [3, -1]]), text_lengths=torch.tensor([2, 1]))
    else:
        batch.update(label=torch.tensor([[0], [2]]), label_lengths=torch.tensor([1, 1]))
    loss, _, _ = model(**batch)
    assert torch.isfinite(loss)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    loss.backward()
    optimizer.step()
    if isinstance(scheduler, AbsValEpochStepScheduler):  # e.g. ReduceLROnPlateau: steps with a validation value
        scheduler.step(loss.item())
    else:
        scheduler.step()
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters() if n in before)
    return args, model, scheduler


def tiny_sentence_encoder(root: Path, words: List[str]) -> str:
    """A tiny sentence-transformers directory (1-layer BERT over ``words``, mean pooling, unit
    length) in the layout of all-MiniLM-L6-v2's, for generative context's text targets."""
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel, BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(set(words))]
    root.mkdir(parents=True, exist_ok=True)
    write_lines(root / "vocab.txt", vocab)
    torch.manual_seed(0)
    BertTokenizerFast(str(root / "vocab.txt")).save_pretrained(root / "bert")
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=16, max_position_embeddings=32)).save_pretrained(root / "bert")
    modules = [models.Transformer(str(root / "bert")), models.Pooling(8, "mean"), models.Normalize()]
    SentenceTransformer(modules=modules).save(str(root / "st"))
    return str(root / "st")
