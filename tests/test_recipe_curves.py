"""Learning curves from ESPnet's training logs (espnet2_ext.recipe.curves)."""

from matplotlib.backends.backend_agg import FigureCanvasAgg

from espnet2_ext.recipe.curves import figure_by_updates, figure_curves, main, read_epochs, read_systems, seconds, summarise, training_table

LINE = ("[vm] 2026-12-05 18:48:09,577 (trainer:394) INFO: {e}epoch results: [train] iter_time=0.009, "
        "loss_ctc=845.318, loss=845.318, train_time=0.285, time={time}, total_count={count}, "
        "[valid] loss_ctc={loss}, cer_ctc={cer}, loss_att=nan, acc=nan, loss={loss}, time=0.97 seconds, "
        "total_count=4")


def write_log(path, rows):
    path.write_text("\n".join(["some other line"] + [LINE.format(**row) for row in rows]) + "\n")


def test_seconds_reads_humanfriendly_timespans():
    assert seconds("1.71 seconds") == 1.71
    assert seconds("1 minute and 2.5 seconds") == 62.5
    assert seconds("1 hour, 2 minutes and 3 seconds") == 3723.0


def test_a_resumed_run_reads_every_log_and_the_latest_line_of_an_epoch_wins(tmp_path):
    exp = tmp_path / "asr_x"
    exp.mkdir()
    write_log(exp / "train.log.1", [dict(e=1, time="1 minute and 0.0 seconds", count=10, loss=90.0, cer=0.9),
                                    dict(e=2, time="30.0 seconds", count=20, loss=99.0, cer=0.99)])
    write_log(exp / "train.log", [dict(e=2, time="1 minute and 0.0 seconds", count=20, loss=70.0, cer=0.6),
                                  dict(e=3, time="1 minute and 0.0 seconds", count=30, loss=75.0, cer=0.5)])
    epochs = read_epochs(exp)
    assert sorted(epochs) == [1, 2, 3] and epochs[2].valid["loss"] == "70.0"
    run = summarise(epochs)
    assert (run.epochs, run.updates, run.train_seconds) == (3, 30, 180.0)
    assert run.curve_key == "cer_ctc"  # acc is nan: not computed for a CTC-only model
    assert run.curve == ((1, 0.9), (2, 0.6), (3, 0.5))
    assert run.elapsed == (60.0, 120.0, 180.0)  # cumulative, for the plot's wall-time panel
    assert (run.best_epoch, run.best_value) == (2, 0.6)  # lowest validation loss, not the last epoch


def test_training_table_and_plot(tmp_path):
    exp = tmp_path / "asr_x"
    exp.mkdir()
    write_log(exp / "train.log", [dict(e=1, time="2.0 seconds", count=5, loss=9.0, cer=0.9)])
    (tmp_path / "untrained").mkdir()
    png = tmp_path / "curves.png"
    lines = training_table([exp, tmp_path / "untrained"], ["asr_x", "untrained"], png, tmp_path)
    assert "|asr_x|1|5|0.0|valid cer_ctc|1|0.900|0.900|" in lines
    assert not any(line.startswith("|untrained|") for line in lines)
    assert "![validation curves](curves.png)" in lines
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert training_table([tmp_path / "untrained"], ["untrained"], None, tmp_path) == []


def test_convergence_table_gives_the_updates_each_run_needs_to_reach_the_target(tmp_path, capsys):
    runs = {"a": [0.9, 0.4, 0.2], "a_seed1": [0.8, 0.3, 0.1], "b": [0.5, 0.15, 0.1], "c": [0.9, 0.8, 0.7]}
    for name, cers in runs.items():
        (tmp_path / name).mkdir()
        write_log(tmp_path / name / "train.log", [dict(e=e + 1, time="2.0 seconds", count=10 * (e + 1),
                                                       loss=10 - e, cer=cer) for e, cer in enumerate(cers)])
    assert summarise(read_epochs(tmp_path / "a")).updates_to(0.4) == 20
    assert summarise(read_epochs(tmp_path / "c")).updates_to(0.4) is None
    png = tmp_path / "by_updates.png"
    argv = ["--system", "vanilla", str(tmp_path / "a"), str(tmp_path / "a_seed1"), "--system", "tuned",
            str(tmp_path / "b"), str(tmp_path / "c"), "--target", "0.3", "--plot", str(png)]
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines()[2:] == [
        "|vanilla|2|30, 20|25|0.200, 0.100|",
        "|tuned|2|20, never|20 (1 of 2 reached it)|0.100, 0.700|",  # the best value is at the lowest validation loss
    ]
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert main(["--system", "x", str(tmp_path / "missing"), "--target", "0.3"]) == 1
    assert "missing: no epoch results in its train.log" in capsys.readouterr().err


def test_plot_by_updates_keeps_the_cer_axis_below_early_insertions(tmp_path):
    (tmp_path / "a").mkdir()
    write_log(tmp_path / "a" / "train.log", [dict(e=e + 1, time="2.0 seconds", count=10 * (e + 1), loss=10 - e,
                                                  cer=cer) for e, cer in enumerate([3.4, 1.0, 0.6])])
    systems = read_systems([("a", [tmp_path / "a"])])
    assert figure_by_updates(systems, 0.7).axes[0].get_ylim() == (0.0, 1.05)


def test_the_report_curves_keep_a_legend_of_dozens_of_systems_beside_the_plots(tmp_path):
    runs = []
    for n in range(40):  # fsdd_digits' report has about as many systems
        (tmp_path / f"s{n}").mkdir()
        write_log(tmp_path / f"s{n}" / "train.log", [dict(e=e + 1, time="2.0 seconds", count=10 * (e + 1),
                                                          loss=10 - e, cer=cer) for e, cer in enumerate([3.4, 0.6])])
        runs.append((f"s{n}", summarise(read_epochs(tmp_path / f"s{n}"))))
    figure = figure_curves(runs)
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)  # lays the figure out, as saving it does
    by_epoch, by_time = figure.axes
    (legend,) = figure.legends
    assert len(legend.get_texts()) == 40
    box = legend.get_window_extent(renderer)
    assert box.x0 >= by_time.get_window_extent(renderer).x1  # right of the plots, not over them
    assert box.y0 >= 0 and box.y1 <= figure.bbox.y1  # and inside the figure
    assert by_epoch.get_ylim() == by_time.get_ylim() == (0.0, 1.05)
