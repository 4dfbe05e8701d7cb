"""espnet2_ext.errors.cli_entry: bad input is one line naming the file, exit status 1."""

import pytest

from espnet2_ext.errors import DataError, cli_entry
from espnet2_ext.recipe import ngram


def test_a_missing_input_file_is_one_line_naming_it(tmp_path, capsys):
    status = ngram.main(["--text", str(tmp_path / "gone.txt"), "--out", str(tmp_path / "lm.arpa")])
    assert status == 1
    assert capsys.readouterr().err == f"ERROR: {tmp_path / 'gone.txt'}: no such file or directory\n"
    assert not (tmp_path / "lm.arpa").exists()


def test_data_errors_are_one_line_and_other_failures_keep_their_traceback(capsys):
    @cli_entry
    def bad_data(argv=None):
        raise DataError("text:3: no words")

    @cli_entry
    def unnamed_missing(argv=None):
        raise FileNotFoundError("a bug, not an input file")

    assert bad_data([]) == 1 and capsys.readouterr().err == "ERROR: text:3: no words\n"
    with pytest.raises(FileNotFoundError):
        unnamed_missing([])
