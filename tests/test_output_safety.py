"""samples.py never harms a file it was not asked to replace: an existing output is refused unless --force
is given, --force replaces only an image, and a symbolic link is never written through."""
import os

import matplotlib.image
import numpy as np

from conftest import ROOT, run_script
from test_bad_input import refused

PRETRAINED = os.path.join(ROOT, "pretrained", "cifar10")


def test_an_existing_out_file_is_kept_unless_forced_and_then_only_an_image(tmp_path):
    diary = tmp_path / "diary.png"  # a user's file that happens to have an image's name
    diary.write_text("dear diary")
    refused([PRETRAINED, "--class", "ship", "--out", str(diary)], f"--out {diary}: exists; use --force to replace it",
            str(tmp_path), script="samples.py")
    refused([PRETRAINED, "--class", "ship", "--out", str(diary), "--force"], "is not an image", str(tmp_path),
            script="samples.py")
    grid = tmp_path / "grid.png"
    assert run_script("samples.py", PRETRAINED, "--class", "ship", "--out", str(grid)).returncode == 0
    first = matplotlib.image.imread(str(grid))
    refused([PRETRAINED, "--class", "ship", "--out", str(grid), "--seed", "1"], "use --force to replace it",
            str(tmp_path), script="samples.py")
    result = run_script("samples.py", PRETRAINED, "--class", "ship", "--out", str(grid), "--seed", "1", "--force")
    assert result.returncode == 0, result.stderr[-2000:]
    assert not np.array_equal(first, matplotlib.image.imread(str(grid)))  # replaced by the new seed's images
    assert sorted(os.listdir(tmp_path)) == ["diary.png", "grid.png"]  # no temporary file left behind


def test_a_symbolic_link_is_never_written_through(tmp_path):
    (tmp_path / "diary.txt").write_text("dear diary")
    os.symlink("diary.txt", tmp_path / "link.png")
    for force in ([], ["--force"]):
        refused([PRETRAINED, "--out", str(tmp_path / "link.png"), *force], "is a symbolic link", str(tmp_path),
                script="samples.py")
    assert os.readlink(tmp_path / "link.png") == "diary.txt"


def test_individual_images_never_replace_a_users_file_or_follow_a_link(tmp_path):
    pngs = tmp_path / "pngs"
    pngs.mkdir()
    (pngs / "sample_0003.png").write_text("mine")
    os.symlink("../diary.txt", pngs / "sample_0005.png")
    (tmp_path / "diary.txt").write_text("dear diary")
    arguments = [PRETRAINED, "--class", "ship", "--out", str(tmp_path / "grid.png"), "--individual", str(pngs)]
    refused(arguments, f"--individual {pngs / 'sample_0003.png'}: exists; use --force", str(tmp_path),
            script="samples.py")
    refused(arguments + ["--force"], "is not an image", str(tmp_path), script="samples.py")
    os.remove(pngs / "sample_0003.png")
    refused(arguments + ["--force"], "sample_0005.png: is a symbolic link", str(tmp_path), script="samples.py")
    assert not (tmp_path / "grid.png").exists()  # refused before anything was drawn


def test_the_progress_animation_never_replaces_a_users_file_or_follows_a_link(tmp_path):
    progress = tmp_path / "run" / "progress"
    progress.mkdir(parents=True)
    matplotlib.image.imsave(str(progress / "epoch_0001.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "notes.gif").write_text("my notes")
    os.symlink("notes.gif", tmp_path / "link.gif")
    run_dir = str(tmp_path / "run")
    refused([run_dir, "--progress", str(tmp_path / "notes.gif")], "exists; use --force to replace it",
            str(tmp_path), script="samples.py")
    refused([run_dir, "--progress", str(tmp_path / "link.gif"), "--force"], "is a symbolic link", str(tmp_path),
            script="samples.py")
    assert run_script("samples.py", run_dir, "--progress", str(tmp_path / "p.gif")).returncode == 0
    assert run_script("samples.py", run_dir, "--progress", str(tmp_path / "p.gif")).returncode != 0
    assert run_script("samples.py", run_dir, "--progress", str(tmp_path / "p.gif"), "--force").returncode == 0


def test_a_fifo_as_output_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")  # opening it to write would wait for a reader for ever
    result = run_script("samples.py", PRETRAINED, "--out", str(tmp_path / "pipe.png"), "--force", timeout=60)
    assert result.returncode != 0 and "is not a regular file" in result.stderr.strip().splitlines()[-1]
