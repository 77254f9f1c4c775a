"""Ways to see a run's progress: the per-epoch grids replayed as an animated GIF (samples.py --progress)."""
import os

import matplotlib.image
import numpy as np

from conftest import run_script


def test_the_animation_has_one_frame_per_epoch_grid_in_epoch_order(tmp_path):
    from PIL import Image

    progress = tmp_path / "run" / "progress"
    os.makedirs(progress)
    colours = {2: (255, 0, 0), 9999: (0, 255, 0), 10000: (0, 0, 255)}  # 10000 sorts before 9999 as text
    for epoch, colour in colours.items():
        matplotlib.image.imsave(str(progress / f"epoch_{epoch:04d}.png"), np.full((20, 30, 3), colour, np.uint8))
    result = run_script("samples.py", str(tmp_path / "run"), "--progress", str(tmp_path / "p.gif"))
    assert result.returncode == 0 and "3 frames" in result.stdout, result.stderr[-2000:]
    animation = Image.open(tmp_path / "p.gif")
    assert animation.n_frames == 3
    for frame, colour in enumerate(colours.values()):
        animation.seek(frame)
        pixels = np.asarray(animation.convert("RGB"))
        assert pixels.shape[1] == 30 and tuple(pixels[-1, -1]) == colour, frame  # below the epoch label


def test_no_grids_is_one_clear_line(tmp_path):
    os.makedirs(tmp_path / "run")
    result = run_script("samples.py", str(tmp_path / "run"), "--progress", str(tmp_path / "p.gif"))
    assert result.returncode != 0 and "no progress grids yet" in result.stderr
    assert len((result.stdout + result.stderr).strip().splitlines()) == 1
    assert not os.path.exists(tmp_path / "p.gif")
