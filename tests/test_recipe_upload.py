"""Stage 15 (espnet2_ext.recipe.upload) on a fake exp dir packed by espnet2.bin.pack's own function,
and the reload of its tree and of a cached hub id by espnet2_ext.bin.infer (without building a
model: tests/test_recipe_e2e.py decodes with them). Nothing here reaches the network."""

import shutil
from pathlib import Path

import huggingface_hub
import pytest
import yaml
from espnet2.main_funcs.pack_funcs import pack
from helpers import write_lines
from huggingface_hub import constants as hub_constants

from espnet2_ext.recipe import upload

EXP = "exp/asr_asr_x"
CONFIG = {
    "config": "conf/tuning/x.yaml",
    "frontend": "ssl_upstream",
    "frontend_conf": {"weights": "../ssl1/pretrained/upstream.pth", "arch_conf": {"encoder_attention_dropout": 0.0},
                      "keep_layers": 3, "downsample": "sd", "downsample_factor": 2},
    "specaug": None,
    "encoder": "conformer",
    "encoder_conf": {"num_blocks": 4},
    "decoder": None,
    "model": "ctx_aware",
    "model_conf": {"context_offsets": [-1, 1], "ctc_weight": 1.0},
    "batch_type": "recording",
    "init_param": [],
}
RECORDED = (
    "env OMP_NUM_THREADS=2 python3 -m espnet2.bin.launch --cmd espnet2_ext_run\\ --name\\ asr_asr_x "
    "--log exp/asr_asr_x/train.log --ngpu 0 -- python3 -m espnet2_ext.bin.asr_train --use_preprocessor true "
    "--train_data_path_and_name_and_type dump/raw/train/text\\,text\\,text --output_dir exp/asr_asr_x "
    "--config conf/tuning/x.yaml --init_param exp/asr_asr_train_asr/valid.loss.ave.pth:::ctc.ctc_lo "
    "--ignore_init_mismatch false --max_epoch 3 --frontend_conf downsample_factor=2\n"
)
RESULTS = ["# RESULTS", "## asr_asr_x", "", "### WER", "", "|dataset|Snt|Wrd|Corr|Sub|Del|Ins|Err|S.Err|",
           "|---|---|---|---|---|---|---|---|---|", "|decode/test|10|80|60.0|30.0|10.0|5.0|45.0|90.0|"]


@pytest.fixture
def recipe(tmp_path, monkeypatch):
    """A recipe dir egs2/corpus_x/asr1 with a trained, scored and packed exp dir (as stages 11-14
    leave it), as the working directory."""
    root = tmp_path / "egs2/corpus_x/asr1"
    exp = root / EXP
    exp.mkdir(parents=True)
    monkeypatch.chdir(root)
    write_lines(root / "run.sh", ['targets="asr ner"', 'if [ "${1:-}" = --targets ]; then targets=$2; shift 2; fi'])
    (exp / "config.yaml").write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    (exp / "run.sh").write_text(RECORDED)
    write_lines(exp / "RESULTS.md", RESULTS)
    (exp / "valid.loss.ave.pth").write_bytes(b"weights")
    (root / "data/token_list/asr_char").mkdir(parents=True)
    write_lines(root / "data/token_list/asr_char/tokens.txt", ["<blank>", "a", "<sos/eos>"])
    pack(files={"asr_model_file": f"{EXP}/valid.loss.ave.pth"}, yaml_files={"asr_train_config": f"{EXP}/config.yaml"},
         outpath=f"{EXP}/asr_asr_x_valid.loss.ave.zip", option=[f"{EXP}/RESULTS.md", "data/token_list/asr_char"])
    return root


def dry_run(recipe: Path, *extra: str) -> int:
    return upload.main(["--exp", EXP, "--packed", f"{EXP}/asr_asr_x_valid.loss.ave.zip", "--out", f"{EXP}/hf_upload",
                        "--hf_repo", "test/mini_slue_asr", "--target", "asr", *extra])


def front_matter(card: str) -> dict:
    _, head, _ = card.split("---\n", 2)
    return yaml.safe_load(head)


def test_the_tree_is_the_unzipped_pack_and_a_model_card(recipe, capsys):
    assert dry_run(recipe) == 0
    tree = recipe / EXP / "hf_upload"
    files = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())
    assert files == ["README.md", "data/token_list/asr_char/tokens.txt", f"{EXP}/RESULTS.md", f"{EXP}/config.yaml",
                     f"{EXP}/valid.loss.ave.pth", "meta.yaml"]
    assert yaml.safe_load((tree / "meta.yaml").read_text())["files"] == {"asr_model_file": f"{EXP}/valid.loss.ave.pth"}
    out = capsys.readouterr().out
    assert out.startswith(f"Dry run: the repository test/mini_slue_asr would hold {EXP}/hf_upload:")
    assert f"  {EXP}/valid.loss.ave.pth  (7 bytes)" in out.splitlines()


def test_the_card_has_espnets_front_matter_command_method_results_and_config(recipe):
    dry_run(recipe)
    card = (recipe / EXP / "hf_upload/README.md").read_text()
    assert front_matter(card) == {"tags": ["espnet", "audio", "automatic-speech-recognition"], "language": "en",
                                  "datasets": ["corpus_x"], "license": "cc-by-4.0"}
    assert "## ESPnet2 ASR model\n\n### `test/mini_slue_asr`\n" in card
    assert "with the `egs2/corpus_x/asr1` recipe" in card
    # What stage 11 recorded, as the recipe's options: the options stage 11 adds from ssl_ft.sh's
    # (--pretrained_model) as those; ssl_ft.sh's defaults dropped; the name is the derived one.
    assert ("cd egs2/corpus_x/asr1\n./run.sh --targets asr --train_config conf/tuning/x.yaml "
            "--train_args '--max_epoch 3 --frontend_conf downsample_factor=2' "
            "--pretrained_model exp/asr_asr_train_asr/valid.loss.ave.pth:::ctc.ctc_lo\n") in card
    assert "python -m espnet2_ext.bin.infer --model test/mini_slue_asr audio.wav" in card
    assert ("- frontend: `ssl_upstream` (weights=../ssl1/pretrained/upstream.pth, "
            "arch_conf.encoder_attention_dropout=0.0, keep_layers=3, downsample=sd, downsample_factor=2)\n"
            "- encoder: `conformer`\n- model: `ctx_aware` (context_offsets=[-1, 1], ctc_weight=1.0)\n"
            "- batch_type: `recording`\n") in card
    assert "\n".join(RESULTS) in card
    assert f"<details><summary>expand</summary>\n\n```\n{(recipe / EXP / 'config.yaml').read_text()}```" in card
    assert "@inproceedings{watanabe2018espnet," in card


def test_a_classifier_card_and_licence(recipe):
    (recipe / EXP / "RESULTS.md").rename(recipe / "RESULTS.md")
    cls = recipe / "exp/cls_sentiment_x"
    shutil.copytree(recipe / EXP, cls)
    shutil.copy(recipe / "RESULTS.md", cls / "RESULTS.md")
    pack(files={"classification_model_file": "exp/cls_sentiment_x/valid.loss.ave.pth"},
         yaml_files={"classification_train_config": "exp/cls_sentiment_x/config.yaml"}, outpath="cls.zip")
    assert upload.main(["--exp", str(cls), "--packed", "cls.zip", "--out", "tree", "--hf_repo", "o/n",
                        "--target", "sentiment", "--license", "cc-by-sa-4.0"]) == 0
    card = Path("tree/README.md").read_text()
    assert front_matter(card)["tags"][-1] == "audio-classification"
    assert front_matter(card)["license"] == "cc-by-sa-4.0"
    assert "## ESPnet2 CLS model" in card and "## CLS config" in card
    assert "./run.sh --targets sentiment --train_config conf/tuning/x.yaml" in card


def test_the_command_names_the_tag_and_seed_where_the_exp_name_needs_them(recipe):
    exp = recipe / EXP
    # No tag: the name is <task>_<target>_<config stem>.
    assert upload.training_options(exp, CONFIG, "asr")[-1].startswith("--pretrained_model ")
    assert upload.training_options(exp, CONFIG, "ner")[-1] == "--tag asr_x"
    assert upload.training_options(exp, CONFIG, None)[-1] == "--tag asr_x"
    seeded = recipe / "exp/asr_asr_x_seed3"
    seeded.mkdir()
    (seeded / "run.sh").write_text("python3 -m espnet2_ext.bin.asr_train --config conf/tuning/x.yaml --seed 3\n")
    assert upload.training_options(seeded, CONFIG, "asr") == ["--train_config conf/tuning/x.yaml", "--seed 3"]
    # An exp dir without stage 11's record: the config that config.yaml names.
    bare = recipe / "exp/asr_asr_x_ep8"
    bare.mkdir()
    assert upload.training_options(bare, CONFIG, "asr") == ["--train_config conf/tuning/x.yaml", "--tag asr_x_ep8"]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    return err


def test_no_packed_model_says_run_stage_14(recipe, capsys):
    (recipe / EXP / "asr_asr_x_valid.loss.ave.zip").unlink()
    assert dry_run(recipe) == 1
    assert f"{EXP}/asr_asr_x_valid.loss.ave.zip: no packed model (run stage 14 first)" in one_line_error(capsys)


def test_no_results_says_run_stage_13(recipe, capsys):
    (recipe / EXP / "RESULTS.md").unlink()
    assert dry_run(recipe) == 1
    assert f"{EXP}/RESULTS.md: no results to put on the model card (run stage 13 first)" in one_line_error(capsys)
    assert not (recipe / EXP / "hf_upload").exists()


def test_upload_offline_is_one_line(recipe, capsys, monkeypatch):
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    assert dry_run(recipe, "--upload") == 1
    assert "hf_upload: cannot upload to test/mini_slue_asr: HF_HUB_OFFLINE is set" in one_line_error(capsys)


class FakeApi:
    """Stands in for huggingface_hub.HfApi: records the calls, or fails as a refused token does."""

    calls: list = []
    failure = None

    def create_repo(self, repo_id, exist_ok=False):
        if self.failure:
            raise self.failure
        self.calls.append(("create_repo", repo_id, exist_ok))

    def upload_folder(self, repo_id, folder_path, commit_message):
        self.calls.append(("upload_folder", repo_id, folder_path))
        return huggingface_hub.CommitInfo(commit_url=f"https://huggingface.co/{repo_id}/commit/abc",
                                          commit_message=commit_message, commit_description="", oid="abc")


def test_upload_creates_the_repo_and_uploads_the_tree(recipe, capsys, monkeypatch):
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setattr(FakeApi, "calls", [])
    assert dry_run(recipe, "--upload") == 0
    assert FakeApi.calls == [("create_repo", "test/mini_slue_asr", True),
                             ("upload_folder", "test/mini_slue_asr", f"{EXP}/hf_upload")]
    assert "to https://huggingface.co/test/mini_slue_asr/commit/abc" in capsys.readouterr().out


def test_a_failed_upload_is_one_line(recipe, capsys, monkeypatch):
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setattr(FakeApi, "failure", ConnectionError("401 Client Error: Unauthorized\nInvalid token"))
    assert dry_run(recipe, "--upload") == 1
    expected = "upload to test/mini_slue_asr failed: ConnectionError: 401 Client Error: Unauthorized"
    assert expected in one_line_error(capsys)


def test_bad_hub_id_or_upload_without_one(recipe, capsys):
    assert dry_run(recipe, "--hf_repo", "not a repo") == 1
    assert "--hf_repo 'not a repo': expected a hub id org/name" in one_line_error(capsys)
    assert upload.main(["--exp", EXP, "--packed", "x.zip", "--out", "t", "--upload"]) == 1
    assert "--upload needs --hf_repo org/name" in one_line_error(capsys)


# Reload with espnet2_ext.bin.infer: where the tree's and a cached hub id's files are found.


def cache_snapshot(tree: Path, cachedir: Path, repo_id: str) -> Path:
    """The tree as huggingface_hub's cache holds a downloaded repository."""
    storage = cachedir / f"models--{repo_id.replace('/', '--')}"
    (storage / "refs").mkdir(parents=True)
    (storage / "refs/main").write_text("0123abcd")  # the commit of the branch, without a newline
    return Path(shutil.copytree(tree, storage / "snapshots/0123abcd"))


def test_infer_finds_the_files_of_a_tree_and_of_a_cached_hub_id(recipe, tmp_path):
    from espnet2_ext.bin import infer

    dry_run(recipe)
    tree = (recipe / EXP / "hf_upload").resolve()
    task, config, weights = infer.find_model(infer.locate(str(tree), tmp_path), None)
    assert (task, config, weights) == ("asr", tree / EXP / "config.yaml", tree / EXP / "valid.loss.ave.pth")
    # The config names its files relative to the tree's root, where pack ran.
    assert infer.working_dir(tree) == tree
    snapshot = cache_snapshot(tree, tmp_path / "cache", "test/mini_slue_asr")
    assert infer.locate("test/mini_slue_asr", tmp_path / "cache") == snapshot
    assert infer.find_model(snapshot, None)[1] == snapshot / EXP / "config.yaml"


def test_infer_with_a_hub_id_not_in_the_cache_is_one_line(tmp_path, capsys, monkeypatch):
    from espnet2_ext.bin import infer

    monkeypatch.chdir(tmp_path)
    assert infer.main(["--model", "test/absent", "--cachedir", str(tmp_path / "cache"), "a.wav"]) == 1
    err = one_line_error(capsys)
    assert f"test/absent: no such file or directory, nor a hub model in the cache {tmp_path / 'cache'}" in err
    assert f"`hf download test/absent --cache-dir {tmp_path / 'cache'}` first" in err


def test_infer_with_a_tree_missing_a_file_names_meta_yaml(recipe, capsys):
    from espnet2_ext.bin import infer

    dry_run(recipe)
    (recipe / EXP / "hf_upload" / EXP / "valid.loss.ave.pth").unlink()
    assert infer.main(["--model", f"{EXP}/hf_upload", "a.wav"]) == 1
    assert "hf_upload/meta.yaml: names files missing from" in one_line_error(capsys)


def test_the_cards_results_link_into_the_tree(recipe):
    # RESULTS.md links files relative to the exp dir; on the card (the tree's root) they must
    # point into the tree, and a link to a file the tree lacks keeps its text only.
    lines = [*RESULTS, "- config: [asr_asr_x/config.yaml](config.yaml)", "- curves: [loss](images/loss.png)",
             "- paper: [ESPnet](https://github.com/espnet/espnet), [top](#results)"]
    write_lines(recipe / EXP / "RESULTS.md", lines)
    assert dry_run(recipe) == 0
    card = (recipe / EXP / "hf_upload/README.md").read_text()
    assert f"- config: [asr_asr_x/config.yaml]({EXP}/config.yaml)\n- curves: loss\n" in card
    assert "- paper: [ESPnet](https://github.com/espnet/espnet), [top](#results)" in card
