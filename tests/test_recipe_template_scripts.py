"""Tests for the shared stage scripts of egs2/TEMPLATE: safe to edit while a recipe runs, and a
--help that lists the options only."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import ROOT, run

TEMPLATE = ROOT / "egs2/TEMPLATE"
SCRIPTS = ["asr1/ssl_ft.sh", "ssl1/ssl_pt.sh", "tune1/tune_upstream.sh"]


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_editing_the_stage_script_while_it_runs_does_not_change_the_run(tmp_path: Path) -> None:
    # A copy of the template next to a recipe dir; its --python blocks on first use (as a long
    # stage would) until the test has rewritten the script in place (same inode, as editors do).
    shutil.copytree(TEMPLATE / "asr1", tmp_path / "TEMPLATE/asr1")
    script = tmp_path / "TEMPLATE/asr1/ssl_ft.sh"
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    for name in ["ssl_ft.sh", "path.sh", "cmd.sh"]:
        (recipe / name).symlink_to(tmp_path / "TEMPLATE/asr1" / name)
    started, go = tmp_path / "started", tmp_path / "go"
    python = tmp_path / "python"
    python.write_text(f'#!/usr/bin/env bash\ntouch {started}\nwhile [ ! -e {go} ]; do sleep 0.05; done\n'
                      f'exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    cmd = ["./ssl_ft.sh", "--train_set", "train", "--valid_set", "dev", "--test_sets", "test",
           "--train_config", "train.yaml", "--python", str(python), "--stage", "6", "--stop_stage", "6"]
    proc = subprocess.Popen(cmd, cwd=recipe, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(started, proc)
    size = script.stat().st_size
    with open(script, "r+") as f:  # the same file, new text of the same size
        f.write(("echo EDITED; exit 3\n" * size)[:size])
    go.touch()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "EDITED" not in out + err
    assert "Stages 6-8" in err and "Successfully finished stages 6-6" in err


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_body_is_one_block_parsed_before_it_runs(script: str) -> None:
    lines = (TEMPLATE / script).read_text().splitlines()
    code = [line for line in lines if line and not line.startswith("#")]
    assert code[0] == "{" and code[-2:] == ["exit", "}"]


def test_help_lists_the_options_and_not_the_derived_variables() -> None:
    proc = run(["./tune_upstream.sh", "--help"], ROOT / "egs2/mini_slue/score1", dict(os.environ))
    options = [line.split()[0] for line in proc.stdout.split("Options (default):")[1].splitlines() if line]
    assert "--method" in options and "--hf_dry_run" in options
    assert "--help_message" not in options and "--exp" not in options and "--ft" not in options
