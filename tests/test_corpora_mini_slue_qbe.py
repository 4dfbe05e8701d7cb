"""Tests for the QbE-STD proxy built on a tiny MiniSLUE test split."""

import json
import re
import shutil
from pathlib import Path

import pytest
import soundfile

from espnet2_ext.corpora import mini_slue, mini_slue_qbe
from espnet2_ext.errors import DataError
from espnet2_ext.kaldi_files import read_map

COUNTS = {"train": 1, "dev": 1, "test": 3}
SEED = 3
NUM_QUERIES = 6


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mini_slue")
    mini_slue.generate(root / "data", root / "audio", SEED, COUNTS, nj=1)
    return root / "data" / "test"


@pytest.fixture(scope="module")
def qbe_dir(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("qbe") / "qbe"
    mini_slue_qbe.build(data_dir, out, NUM_QUERIES, seed=0)
    return out


def _truth(qbe_dir: Path) -> list[tuple[str, str]]:
    return [tuple(line.split()) for line in (qbe_dir / "truth").read_text().splitlines()]


def _doc_words(data_dir: Path) -> dict[str, set[str]]:
    return {uttid: set(text.split()) for uttid, text in read_map(data_dir / "text").items()}


def test_keywords_follow_the_rule(data_dir: Path, qbe_dir: Path) -> None:
    docs = _doc_words(data_dir)
    vocabulary = set().union(*docs.values())
    keywords = read_map(qbe_dir / "queries" / "text")
    assert len(keywords) == NUM_QUERIES
    for qid, keyword in keywords.items():
        assert re.fullmatch(r"q\d{3}_[a-z]+", qid) and qid.endswith(f"_{keyword}")
        assert re.fullmatch(r"[a-z]{5,}", keyword)
        in_docs = sum(keyword in words for words in docs.values())
        assert 2 <= in_docs <= max(2, len(docs) // 4), (keyword, in_docs)
        assert not [w for w in vocabulary if keyword in w and w != keyword], keyword
    assert len(set(keywords.values())) == len(keywords)


def test_truth_is_whole_word_occurrence(data_dir: Path, qbe_dir: Path) -> None:
    keywords = read_map(qbe_dir / "queries" / "text")
    expected = sorted((qid, uttid) for qid, keyword in keywords.items()
                      for uttid, words in _doc_words(data_dir).items() if keyword in words)
    assert _truth(qbe_dir) == expected
    assert {qid for qid, _ in expected} == set(keywords)  # every query has true docs


def test_query_voices_are_not_the_documents(data_dir: Path, qbe_dir: Path) -> None:
    doc_voices = [value.split()[0] for value in read_map(data_dir / "spk2voice").values()]
    doc_variants = {voice.partition("+")[2] for voice in doc_voices}
    for qid, value in read_map(qbe_dir / "queries" / "utt2voice").items():
        voice, *prosody = value.split()
        accent, _, variant = voice.partition("+")
        assert accent in mini_slue.ACCENTS and variant in mini_slue_qbe.VARIANTS
        assert variant not in doc_variants and voice not in doc_voices, qid
        assert len(prosody) == 3


def test_query_audio(qbe_dir: Path) -> None:
    wav_scp = read_map(qbe_dir / "queries" / "wav.scp")
    assert list(wav_scp) == list(read_map(qbe_dir / "queries" / "text"))
    for qid, path in wav_scp.items():
        assert Path(path).is_absolute() and Path(path).parent == (qbe_dir / "queries" / "wav").resolve()
        info = soundfile.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert 0.2 < info.duration < 2.0, qid  # one word, silence trimmed
    assert sorted(p.name for p in (qbe_dir / "queries" / "wav").iterdir()) == sorted(
        f"{qid}.wav" for qid in wav_scp)


def test_docs_point_at_the_data_dir(data_dir: Path, qbe_dir: Path) -> None:
    assert (qbe_dir / "docs" / "text").read_bytes() == (data_dir / "text").read_bytes()
    assert (qbe_dir / "docs" / "segments").read_bytes() == (data_dir / "segments").read_bytes()
    assert read_map(qbe_dir / "docs" / "wav.scp") == {
        rec: str(Path(path).resolve()) for rec, path in read_map(data_dir / "wav.scp").items()}
    assert not list((qbe_dir / "docs").glob("*.wav"))
    params = json.loads((qbe_dir / mini_slue_qbe.PARAMS_NAME).read_text())
    assert params["queries"] == NUM_QUERIES and params["docs"] == len(read_map(data_dir / "text"))


def _files(qbe_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(qbe_dir)): p.read_bytes() for p in sorted(qbe_dir.rglob("*")) if p.is_file()}


def test_deterministic_and_idempotent(data_dir: Path, qbe_dir: Path, tmp_path: Path) -> None:
    first = _files(qbe_dir)
    other = tmp_path / "other"
    mini_slue_qbe.build(data_dir, other, NUM_QUERIES, seed=0)
    second = _files(other)
    assert first.keys() == second.keys()
    location_dependent = {"queries/wav.scp", mini_slue_qbe.PARAMS_NAME}
    for name in first.keys() - location_dependent:
        assert first[name] == second[name], name

    # Fewer queries: a prefix of the list; the extra wavs of the earlier run are removed.
    mini_slue_qbe.build(data_dir, other, 2, seed=0)
    fewer = read_map(other / "queries" / "text")
    assert list(fewer.items()) == list(read_map(qbe_dir / "queries" / "text").items())[:2]
    assert sorted(p.name for p in (other / "queries" / "wav").iterdir()) == [f"{q}.wav" for q in fewer]
    assert all(qid in fewer for qid, _ in _truth(other))

    # Back to the first parameters: the same files again.
    mini_slue_qbe.build(data_dir, other, NUM_QUERIES, seed=0)
    assert _files(other) == second

    mini_slue_qbe.build(data_dir, other, NUM_QUERIES, seed=1)
    assert read_map(other / "queries" / "text") != read_map(qbe_dir / "queries" / "text")


def test_a_dump_dir_with_relative_paths_and_spk2voice_elsewhere(data_dir: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """ESPnet's dump/raw/<set>: wav.scp paths relative to the recipe dir, no spk2voice."""
    recipe = tmp_path / "recipe"
    dump = recipe / "dump" / "raw" / "test"
    dump.mkdir(parents=True)
    for name in ("text", "utt2spk"):
        shutil.copy(data_dir / name, dump / name)
    (recipe / "audio").symlink_to(Path(next(iter(read_map(data_dir / "wav.scp").values()))).parent)
    segments = read_map(data_dir / "segments")
    (dump / "segments").write_text("".join(f"{u} {v}\n" for u, v in segments.items()))
    (dump / "wav.scp").write_text("".join(
        f"{rec} audio/{Path(path).name}\n" for rec, path in read_map(data_dir / "wav.scp").items()))
    monkeypatch.chdir(tmp_path)  # not the recipe dir: the data dir's ancestors find the files

    with pytest.raises(DataError, match=r"dump/raw/test/spk2voice: missing.*--spk2voice"):
        mini_slue_qbe.build(dump, tmp_path / "qbe", 3)
    mini_slue_qbe.build(dump, tmp_path / "qbe", 3, spk2voice=data_dir / "spk2voice")
    for path in read_map(tmp_path / "qbe" / "docs" / "wav.scp").values():
        assert Path(path).is_absolute() and Path(path).is_file()


def _copy(data_dir: Path, tmp_path: Path) -> Path:
    out = tmp_path / "data"
    shutil.copytree(data_dir, out)
    return out


def test_clear_errors(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = _copy(data_dir, tmp_path)
    with pytest.raises(DataError, match=r"no keyword qualifies"):
        mini_slue_qbe.build(bad, tmp_path / "qbe", 3, min_letters=40)

    (bad / "spk2voice").write_text("test_r0000 en+m4 120\n")
    with pytest.raises(DataError, match=r"spk2voice:1: expected 'recid voice rate pitch range'"):
        mini_slue_qbe.build(bad, tmp_path / "qbe", 3)

    (bad / "spk2voice").write_text("test_r0000 en+m4 120 50 50\n")  # another split's voices
    with pytest.raises(DataError, match=r"utt2spk:\d+: speaker 'test_r0001'.*has no voice"):
        mini_slue_qbe.build(bad, tmp_path / "qbe", 3)

    shutil.copy(data_dir / "spk2voice", bad / "spk2voice")
    lines = (bad / "segments").read_text().splitlines()
    (bad / "segments").write_text("\n".join(lines[1:]) + "\n")
    with pytest.raises(DataError, match=r"text:1: document '\S+' has no line in"):
        mini_slue_qbe.build(bad, tmp_path / "qbe", 3)

    (bad / "text").unlink()
    assert mini_slue_qbe.main(["--data_dir", str(bad), "--outdir", str(tmp_path / "qbe")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"ERROR: {bad / 'text'}: missing"
