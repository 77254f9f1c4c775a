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


def png_header_claiming(width, height):
    """A small PNG whose header claims width x height pixels; its pixel data is a few bytes."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(100)))
            + chunk(b"IEND", b""))


def test_odd_files_among_the_grids_are_skipped_with_a_note(tmp_path):
    progress = tmp_path / "run" / "progress"
    os.makedirs(progress / "epoch_0002.png")  # a folder named like a grid
    matplotlib.image.imsave(str(progress / "epoch_0001.png"), np.zeros((20, 30, 3), np.uint8))
    matplotlib.image.imsave(str(progress / "epoch_final.png"), np.zeros((20, 30, 3), np.uint8))  # no epoch number
    (progress / "epoch_0003.png").write_text("not a picture")
    (progress / "epoch_0004.png").write_bytes((progress / "epoch_0001.png").read_bytes()[:60])  # truncated
    (progress / "epoch_0005.png").write_bytes(png_header_claiming(60000, 60000))  # 3.6 billion pixels
    (progress / "epoch_0006.png").write_bytes(png_header_claiming(9000, 9000))  # under Pillow's own limit
    os.mkfifo(progress / "epoch_0007.png")  # opening it would wait for a writer for ever
    result = run_script("samples.py", str(tmp_path / "run"), "--progress", str(tmp_path / "p.gif"), timeout=120)
    assert result.returncode == 0 and "1 frames" in result.stdout, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and result.stderr.strip() == ""
    notes = [line for line in result.stdout.splitlines() if line.startswith("skipped ")]
    for name in ("0002", "final", "0003", "0004", "0005", "0006", "0007"):
        assert sum(f"epoch_{name}.png" in line for line in notes) == 1, (name, result.stdout)


def test_only_odd_files_is_one_line(tmp_path):
    progress = tmp_path / "run" / "progress"
    os.makedirs(progress / "epoch_0001.png")
    result = run_script("samples.py", str(tmp_path / "run"), "--progress", str(tmp_path / "p.gif"))
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0 and "no progress grids" in lines[-1] and "Traceback" not in result.stderr, lines
    assert not os.path.exists(tmp_path / "p.gif")


def logged(run_dir):
    """[(step, tag)] of every value in a run's TensorBoard event files."""
    import glob

    from machinery.tensorboard_log import read_events

    return [(event.step, value.tag) for path in glob.glob(os.path.join(run_dir, "tensorboard", "events.*"))
            for event in read_events(path)[0] for value in event.summary.value]


def test_tensorboard_curves_continue_after_a_resume_with_no_duplicate_steps(real_archive, tmp_path):
    import shutil

    from conftest import TINY

    run_dir = str(tmp_path / "run")
    flags = ["--data", real_archive, *TINY, "--steps-per-epoch", "25"]
    assert run_script("train.py", "--out", run_dir, "--epochs", "2", *flags).returncode == 0
    tags = {tag for _, tag in logged(run_dir)}
    assert {"loss/d_loss_real", "loss/g_loss", "accuracy/d_acc_fake", "learning_rate/generator",
            "fixed-noise grid"} <= tags
    # As if killed after step 50's summaries were written but before its checkpoint: resume from step 25.
    shutil.rmtree(os.path.join(run_dir, "checkpoints", "step-00000050"))
    result = run_script("train.py", "--resume", run_dir, "--epochs", "3", "--data", real_archive)
    assert result.returncode == 0 and "step 25" in result.stdout, result.stderr[-2000:]
    entries = logged(run_dir)
    assert len(entries) == len(set(entries)), "a step was logged twice"
    assert sorted(step for step, tag in entries if tag == "loss/g_loss") == [20, 40, 60]  # every 20 steps
    assert sorted(step for step, tag in entries if tag == "fixed-noise grid") == [25, 50, 75]  # every epoch
