from pathlib import Path

import pytest
import yaml
from helpers import write_lines

from espnet2_ext.errors import DataError
from espnet2_ext.upstream.pack import main, prepare


def write_config(path, frontend_conf, frontend="ssl_upstream"):
    path.write_text(yaml.safe_dump({"frontend": frontend, "frontend_conf": frontend_conf}))
    return path


def test_random_and_hub_upstreams_need_nothing(tmp_path):
    for conf in ({"arch": "tiny", "weights": "random"}, {"weights": "hf:facebook/hubert-base-ls960"}):
        config = write_config(tmp_path / "config.yaml", conf)
        assert prepare(config, tmp_path / "pack") == [config]


def test_espnet_checkpoint_is_copied_with_its_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ssl").mkdir()
    (tmp_path / "ssl/valid.acc_m.best.pth").write_bytes(b"weights")
    write_lines(tmp_path / "ssl/config.yaml", ["encoder: torchaudio_hubert"])
    config = write_config(tmp_path / "config.yaml", {"weights": "ssl/valid.acc_m.best.pth", "layer": 2})
    packed, upstream = prepare(config, tmp_path / "exp/pack")
    conf = yaml.safe_load(packed.read_text())
    # The value is the path pack will store the copy under, so unpack rewrites it.
    assert conf["frontend_conf"] == {"weights": str(tmp_path / "exp/pack/upstream/valid.acc_m.best.pth"), "layer": 2}
    assert (upstream / "valid.acc_m.best.pth").read_bytes() == b"weights"
    assert (upstream / "config.yaml").is_file()


def test_transformers_directory_is_named_by_its_config_json(tmp_path, capsys):
    (tmp_path / "hubert").mkdir()
    write_lines(tmp_path / "hubert/config.json", ["{}"])
    (tmp_path / "hubert/model.safetensors").write_bytes(b"w")
    config = write_config(tmp_path / "config.yaml", {"weights": str(tmp_path / "hubert")})
    assert main([str(config), str(tmp_path / "pack")]) == 0
    packed, upstream = capsys.readouterr().out.split()
    assert yaml.safe_load(open(packed))["frontend_conf"]["weights"] == f"{upstream}/config.json"
    assert sorted(p.name for p in (tmp_path / "pack/upstream").iterdir()) == ["config.json", "model.safetensors"]


def test_missing_upstream_names_the_config(tmp_path):
    config = write_config(tmp_path / "config.yaml", {"weights": "nowhere.pth"})
    with pytest.raises(DataError, match="config.yaml: frontend_conf.weights 'nowhere.pth' does not exist"):
        prepare(config, tmp_path / "pack")


def test_context_injection_frontend_ships_its_upstream_too(tmp_path):
    (tmp_path / "upstream.pth").write_bytes(b"weights")
    conf = {"weights": str(tmp_path / "upstream.pth"), "context_offsets": [-1, 1]}
    config = write_config(tmp_path / "config.yaml", conf, frontend="ssl_upstream_inject")
    packed, upstream = prepare(config, tmp_path / "pack")
    assert yaml.safe_load(packed.read_text())["frontend_conf"]["weights"] == str(upstream / "upstream.pth")


def test_global_mvn_statistics_are_shipped(tmp_path, monkeypatch):
    # The filterbank baseline (normalize: global_mvn) loads its statistics at inference.
    monkeypatch.chdir(tmp_path)
    stats = tmp_path / "exp/asr_stats/train/feats_stats.npz"
    stats.parent.mkdir(parents=True)
    stats.write_bytes(b"stats")
    config = tmp_path / "config.yaml"
    conf = {"frontend": "default", "normalize": "global_mvn",
            "normalize_conf": {"stats_file": "exp/asr_stats/train/feats_stats.npz"}}
    config.write_text(yaml.safe_dump(conf))
    assert prepare(config, tmp_path / "pack") == [config, Path("exp/asr_stats/train/feats_stats.npz")]
    stats.unlink()
    with pytest.raises(DataError, match="normalize_conf.stats_file 'exp/asr_stats/train/feats_stats.npz' does not exist"):
        prepare(config, tmp_path / "pack")
