"""The loss plot (losses.png) is redrawn as a run goes. On a small folder of pictures an epoch is a few
steps, so a night's run has thousands of epochs: the plot must not grow with them, nor be redrawn each
time. It drew a dotted line per epoch in each panel, and at epoch 500 of a 500-image folder 1.5 s of each
3.5 s epoch went outside training (2-core AMD EPYC)."""
import matplotlib.axes
import pytest

from machinery.progress import EPOCH_LINES, STAT_NAMES, plot_losses


def rows(count, steps_per_epoch):
    return [dict({name: 0.5 for name in STAT_NAMES}, step=(index + 1) * steps_per_epoch, epoch=index + 1,
                 fd="") for index in range(count)]


@pytest.mark.parametrize("epochs", [3, 2000])
def test_the_loss_plot_draws_a_bounded_number_of_lines(tmp_path, monkeypatch, epochs):
    drawn = []
    original = matplotlib.axes.Axes.axvline
    monkeypatch.setattr(matplotlib.axes.Axes, "axvline",
                        lambda self, *args, **kwargs: drawn.append(args) or original(self, *args, **kwargs))
    history = rows(epochs, 15)
    curve = rows(epochs * 15 // 20, 20)  # a point per CURVE_EVERY steps
    plot_losses(curve, history, "bce", str(tmp_path / "losses.png"))
    assert (tmp_path / "losses.png").stat().st_size > 0
    if epochs <= EPOCH_LINES:
        assert len(drawn) == 2 * epochs  # a few epochs: each marked in both panels
    else:
        assert drawn == []  # thousands of epochs: none marked, the plot's cost no longer grows with them


class NoBoard:
    """TensorBoard stand-in: the record sends it curve points."""

    def scalars(self, step, values):
        pass


def test_the_loss_plot_is_redrawn_at_most_once_a_minute_and_at_the_end(tmp_path, monkeypatch):
    """Drawing losses.png takes about 0.4 s, and a 500-image folder's epoch about 2.5 s: redrawn after every
    epoch, the plot alone took 15 % of the run. metrics.csv, which holds the same numbers, is still
    written after every epoch."""
    import numpy as np

    from machinery import callbacks

    drawn = []
    monkeypatch.setattr(callbacks, "plot_losses", lambda curve, history, loss, path: (
        drawn.append(len(history)), open(path, "wb").close()))
    record = callbacks.TrainingRecord(str(tmp_path), {"loss": "bce"}, 1, NoBoard(), {})
    logs = {"grid": np.zeros((4, 8, 8, 3), np.float32), "row_names": None}

    def epoch(number):
        record.on_epoch_begin(number)
        record.on_train_batch_end(number, dict.fromkeys(callbacks.STEP_STATS, 0.5))
        record.on_epoch_end(number, dict(logs))

    epoch(0)
    epoch(1)
    assert drawn == [1]  # the first epoch is drawn, the next one, seconds later, is not
    record.plotted -= callbacks.PLOT_EVERY_SECONDS  # a minute later
    epoch(2)
    epoch(3)
    assert drawn == [1, 3]
    assert len((tmp_path / "metrics.csv").read_text().splitlines()) == 1 + 4  # every epoch's row
    record.on_train_end()
    assert drawn == [1, 3, 4]  # the end (or a stop) draws every epoch
    record.on_train_end()
    assert drawn == [1, 3, 4]  # nothing new: not drawn again


def test_ada_curve_plots_runs_and_never_replaces_a_users_file(tmp_path):
    """benchmarks/ada_curve.py: p and D's real accuracy from metrics.csv; an existing non-image --out or a
    link is refused in one line, untouched."""
    from conftest import run_script

    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("epoch,step,d_acc_real,augment_p\n1,15,0.9,0.01\n2,30,0.8,0.02\n")
    diary = tmp_path / "diary.png"
    diary.write_text("my notes")
    (tmp_path / "link.png").symlink_to(diary)
    for out in ("diary.png", "link.png"):
        result = run_script("benchmarks/ada_curve.py", str(run), "--out", str(tmp_path / out), "--force")
        assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert diary.read_text() == "my notes"
    result = run_script("benchmarks/ada_curve.py", str(run), "--out", str(tmp_path / "curve.png"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "curve.png").read_bytes().startswith(b"\x89PNG")
