"""The generator that ships with the code (pretrained/cifar10) draws the classes asked for, with no training."""
import json
import os

import matplotlib.image

from conftest import ROOT, run_script

PRETRAINED = os.path.join(ROOT, "pretrained", "cifar10")


def test_the_shipped_run_is_a_small_conditional_run():
    with open(os.path.join(PRETRAINED, "config.json")) as file_object:
        config = json.load(file_object)
    assert config["conditional"] is True and config["data"] is None  # no path of the machine it trained on
    sizes = {name: os.path.getsize(os.path.join(PRETRAINED, name)) for name in os.listdir(PRETRAINED)}
    assert "generator.ema.weights.h5" in sizes and sum(sizes.values()) < 5 * 2**20, sizes  # a few MB at most


def test_the_shipped_generator_draws_ships_and_a_grid_per_class(tmp_path):
    ships = tmp_path / "ships.png"
    result = run_script("samples.py", PRETRAINED, "--class", "ship", "--out", str(ships))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "classes ship" in result.stdout
    image = matplotlib.image.imread(str(ships))[..., :3]
    assert image.shape[0] == 34 + 2  # one row of eight 32-pixel images
    pixels = image[2:-2, -(8 * 34):]  # the images, without the name's margin
    assert pixels.std() > 0.1  # not a constant grid: a GAN can "pass" with flat grey
    grid = tmp_path / "grid.png"
    assert run_script("samples.py", PRETRAINED, "--out", str(grid)).returncode == 0
    assert matplotlib.image.imread(str(grid)).shape[0] == 10 * 34 + 2  # one row per class
