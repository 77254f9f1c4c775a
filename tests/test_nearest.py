"""The memorisation check (samples.py --nearest): each generated image beside its truly nearest training images."""
import numpy as np

from conftest import run_script


def test_nearest_neighbours_are_the_brute_force_ones_in_any_block_size():
    from scoring.scores import nearest_neighbours, pairwise_distances

    rng = np.random.default_rng(0)
    references, queries = rng.standard_normal((500, 6)), rng.standard_normal((9, 6))
    brute_force = np.argsort(pairwise_distances(queries, references), axis=1)[:, :4]
    for block in (7, 100, 10_000):
        np.testing.assert_array_equal(nearest_neighbours(queries, references, 4, block=block), brute_force)


def test_near_copies_are_paired_with_the_images_they_copy():
    from defDATA import scale_images
    from scoring.nearest import nearest_training_grid

    rng = np.random.default_rng(1)
    training = rng.integers(0, 256, (300, 32, 32, 3), dtype=np.uint8)
    copied = [17, 250, 3]
    generated = scale_images(training[copied]) + rng.normal(0, 0.02, (3, 32, 32, 3)).astype(np.float32)
    grid, space = nearest_training_grid(generated, training, None, neighbours=2)
    assert space == "pixels" and grid.shape == (3 * 3, 32, 32, 3)
    for row, index in enumerate(copied):  # each row: the generated image, then its nearest training image
        np.testing.assert_array_equal(grid[3 * row + 1], scale_images(training[index]))


def test_nearest_grid_from_a_run(trained_run, real_archive, tmp_path):
    run_dir, _ = trained_run
    out = tmp_path / "nearest.png"
    result = run_script("samples.py", run_dir, "--nearest", "--data", real_archive, "--rows", "3", "--cols", "4",
                        "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "3 generated images, each followed by its 3 nearest of" in result.stdout and out.exists()


def test_features_and_data_without_nearest_are_refused_not_ignored(tmp_path):
    """samples.py --features FILE drew an ordinary grid and said nothing of the unused file."""
    import os

    from conftest import ROOT
    pretrained = os.path.join(ROOT, "pretrained", "cifar10")
    for flag in ("--features", "--data"):
        result = run_script("samples.py", pretrained, flag, str(tmp_path / "x"), "--out", str(tmp_path / "g.png"))
        lines = (result.stdout + result.stderr).strip().splitlines()
        assert result.returncode != 0 and lines == [f"error: {flag} {tmp_path / 'x'}: only with --nearest"], lines
        assert not (tmp_path / "g.png").exists()
    result = run_script("samples.py", pretrained, "--nearest", "--individual", str(tmp_path / "each"))
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1 and "not with --nearest" in lines[0], lines
