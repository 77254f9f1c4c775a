"""train.py --data FOLDER as a user runs it: a 32- and a 64-pixel run train from folders of real
pictures (PNG and JPEG, grey and RGBA ones, a few corrupt), a conditional run resumes bit-exactly and
samples.py draws its rows by folder name; each bad folder is one line, before TensorFlow loads,
with nothing written."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from conftest import MINI_ARCHIVE, run_script, weights_of

TINY = ["--width", "0.125", "--latent-dim", "16", "--batch-size", "8", "--steps-per-epoch", "2"]


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """The scripts cache decoded folders under $XDG_CACHE_HOME (datafiles/image_cache.py): a private one."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "image-cache"))


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """A folder of 60 real pictures in two classes named unlike CIFAR's, some grey, some RGBA, two corrupt."""
    if not os.path.exists(MINI_ARCHIVE):
        pytest.skip("needs ../shared/data/cifar10-mini")
    from defDATA import load_cifar10

    root = tmp_path_factory.mktemp("pictures") / "photos"
    for index, image in enumerate(load_cifar10(MINI_ARCHIVE)[0][:60]):
        folder = root / ("kitty" if index % 3 else "boats")
        folder.mkdir(parents=True, exist_ok=True)
        picture = Image.fromarray(image)
        picture = picture.convert("L") if index % 7 == 0 else picture.convert("RGBA") if index % 11 == 0 else picture
        picture.save(folder / f"{index:03d}.{'jpg' if index % 2 and picture.mode != 'RGBA' else 'png'}")
    (root / "kitty" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    (root / "boats" / "empty.png").write_bytes(b"")
    return str(root)


def train(*arguments):
    result = run_script("train.py", *arguments)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def test_a_conditional_folder_run_resumes_exactly_and_draws_classes_by_name(pictures, tmp_path):
    flags = ["--data", pictures, *TINY, "--conditional", "--ema", "0.9"]
    straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
    first = train("--out", straight, "--epochs", "2", *flags)
    assert "warning:" in first.stderr and "skipped 2 of 62 image files" in first.stderr
    train("--out", resumed, "--epochs", "1", *flags)
    train("--resume", resumed, "--epochs", "2")
    for name in ("generator.weights.h5", "discriminator.weights.h5", "generator.ema.weights.h5"):
        a, b = weights_of(os.path.join(straight, name)), weights_of(os.path.join(resumed, name))
        assert a.keys() == b.keys() and all(np.array_equal(a[key], b[key]) for key in a), name
    with open(os.path.join(straight, "config.json")) as file_object:
        assert json.load(file_object)["class_names"] == ["boats", "kitty"]
    result = run_script("samples.py", straight, "--class", "kitty", "--out", str(tmp_path / "kitty.png"))
    assert result.returncode == 0 and "classes kitty" in result.stdout, result.stderr[-1500:]
    assert 32 < Image.open(tmp_path / "kitty.png").size[1] < 64  # one row of 32-pixel images
    refused = run_script("samples.py", straight, "--class", "ship", "--out", str(tmp_path / "ship.png"))
    assert refused.returncode != 0 and "unknown class 'ship' (use 0-1 or one of boats, kitty)" in refused.stderr


def test_a_64_pixel_run_trains_from_a_flat_folder(pictures, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for name in sorted(os.listdir(os.path.join(pictures, "kitty")))[:20]:
        os.symlink(os.path.join(pictures, "kitty", name), flat / name)
    run_dir = tmp_path / "run"
    train("--data", str(flat), "--image-size", "64", "--out", str(run_dir), "--epochs", "1", *TINY)
    with Image.open(run_dir / "progress" / "epoch_0001.png") as grid:
        assert grid.size[0] > 8 * 64  # an 8 x 8 grid of 64-pixel images


BAD = {
    "empty": ("no image files found", []),
    "too few": ("needs 4 real images per step, but there are only 3", []),
    "unreadable": ("none of its 2 image files could be decoded", []),
    "conditional without classes": ("--conditional: --data", ["--conditional"]),
    "unknown class": ("--classes: unknown class 'ship' (use 0-1 or one of boats, kitty)", ["--classes", "ship"]),
    "loop": ("is a symbolic link loop", []),
    "size": ("--image-size: invalid choice: 48", ["--image-size", "48"]),
}


@pytest.mark.parametrize("problem", list(BAD))
def test_a_bad_folder_is_one_line_and_writes_nothing(problem, pictures, tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    kitty = sorted(os.path.join(pictures, "kitty", name) for name in os.listdir(os.path.join(pictures, "kitty")))
    if problem in ("too few", "conditional without classes", "size"):
        for path in kitty[:3 if problem == "too few" else 12]:
            os.symlink(path, root / os.path.basename(path))
    elif problem == "unreadable":
        (root / "a.png").write_text("text")
        (root / "b.jpg").write_bytes(b"")
    elif problem == "unknown class":
        for name in ("boats", "kitty"):
            os.symlink(os.path.join(pictures, name), root / name)
    elif problem == "loop":
        os.symlink(pictures, root / "photos")
        os.symlink("..", root / "photos_again")
        os.symlink(str(root), root / "loop")
    message, flags = BAD[problem]
    result = run_script("train.py", "--data", str(root), "--out", str(tmp_path / "run"), "--epochs", "1",
                        *TINY, *flags)
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and message in lines[-1], result.stderr[-1500:]
    assert "Traceback" not in result.stderr and "cuda" not in result.stderr.lower(), result.stderr[-1500:]  # no TF
    assert not os.path.exists(tmp_path / "run")


def test_a_folder_has_no_real_test_split(pictures):
    result = run_script("evaluate.py", "--real-test", "--data", pictures)
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1 and "a folder of pictures has no test split" in lines[0], lines
