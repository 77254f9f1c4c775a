"""The loss plot (losses.png) is redrawn after every epoch. On a small folder of pictures an epoch is a few
steps, so a night's run has thousands of epochs: the plot must not grow with them. It drew a dotted line per
epoch in each panel, and at epoch 500 of a 500-image folder redrawing it took longer than the epoch's
training (2-core AMD EPYC: 1.5 s of 3.5 s per epoch spent outside training)."""
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
