"""train.py then samples.py, run as a user would, on real CIFAR-10 images."""
import csv
import math
import os

import matplotlib.image
import numpy as np

from conftest import TINY, run_script
from machinery.progress import GRID_PADDING


def grid_size(rows, cols):
    return rows * (32 + GRID_PADDING) + GRID_PADDING, cols * (32 + GRID_PADDING) + GRID_PADDING


def test_training_writes_every_artifact(trained_run):
    run_dir, output = trained_run
    for epoch in (1, 2):
        grid = matplotlib.image.imread(os.path.join(run_dir, "progress", f"epoch_{epoch:04d}.png"))
        assert grid.shape[:2] == grid_size(8, 8)
    assert matplotlib.image.imread(os.path.join(run_dir, "losses.png")).shape[0] > 100
    for name in ("generator.weights.h5", "discriminator.weights.h5", "config.json"):
        assert os.path.getsize(os.path.join(run_dir, name)) > 0
    with open(os.path.join(run_dir, "metrics.csv")) as file_object:
        rows = list(csv.DictReader(file_object))
    assert [int(row["epoch"]) for row in rows] == [1, 2] and [int(row["step"]) for row in rows] == [3, 6]
    for row in rows:
        for key in ("d_loss_real", "d_loss_fake", "g_loss"):
            assert math.isfinite(float(row[key])) and float(row[key]) > 0
        assert 0 <= float(row["d_acc_real"]) <= 1 and float(row["it_per_s"]) > 0
    assert f"grid {run_dir}/progress/epoch_0002.png" in output  # it says where things went


def test_samples_grid_individual_and_interpolation(trained_run, tmp_path):
    run_dir, _ = trained_run
    out, individual = str(tmp_path / "grid.png"), str(tmp_path / "each")
    result = run_script("samples.py", run_dir, "--rows", "3", "--cols", "5", "--out", out, "--individual", individual)
    assert result.returncode == 0, result.stderr
    grid = matplotlib.image.imread(out)
    assert grid.shape[:2] == grid_size(3, 5)
    assert grid[GRID_PADDING:-GRID_PADDING, GRID_PADDING:-GRID_PADDING].std() > 0.01  # not a constant image
    singles = sorted(os.listdir(individual))
    assert len(singles) == 15 and matplotlib.image.imread(os.path.join(individual, singles[0])).shape[:2] == (32, 32)

    result = run_script("samples.py", run_dir, "--interpolate", "--rows", "2", "--cols", "6")
    assert result.returncode == 0, result.stderr
    walk = matplotlib.image.imread(os.path.join(run_dir, "interpolation.png"))
    assert walk.shape[:2] == grid_size(2, 6)


def test_samples_repeat_with_a_seed(trained_run, tmp_path):
    run_dir, _ = trained_run
    paths = [str(tmp_path / f"{name}.png") for name in ("a", "b", "c")]
    for path, seed in zip(paths, ("4", "4", "5")):
        assert run_script("samples.py", run_dir, "--seed", seed, "--out", path).returncode == 0
    a, b, c = (matplotlib.image.imread(path) for path in paths)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_dry_run_smoke_test(real_archive):
    result = run_script("train.py", "--dry-run", "--data", real_archive, *TINY)
    assert result.returncode == 0, result.stderr
    assert "done: 2 epochs, 4 steps" in result.stdout
