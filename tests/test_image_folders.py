"""--data FOLDER of pictures, in this process: the listing's rules, the decoding of each kind of picture,
the cache (reused, rebuilt on a change, memory-mapped beyond the budget with the very same batches),
and every bad input, each one line naming the file. Real pictures, from the mini CIFAR-10 archive."""
import os

import numpy as np
import pytest
from PIL import Image

import defDATA
from conftest import MINI_ARCHIVE
from datafiles import image_cache, image_decoding, image_folders
from defDATA import DataError, load_data


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test decodes into a cache folder of its own (image_cache.cache_folder reads $XDG_CACHE_HOME)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def cifar_images():
    if not os.path.exists(MINI_ARCHIVE):
        pytest.skip("needs ../shared/data/cifar10-mini")
    return defDATA.load_cifar10(MINI_ARCHIVE)


def save(folder, name, image):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    image.save(path)
    return path


def make_folder(root, images, labels, names=("kitty", "boats")):
    """Pictures in class subfolders named `names`, every other one a JPEG; returns root."""
    for index, (image, label) in enumerate(zip(images, labels)):
        save(os.path.join(root, names[label % len(names)]), f"{index:04d}.{'png' if index % 2 else 'jpg'}",
             Image.fromarray(image))
    return str(root)


def test_the_listing_follows_keras_rules(tmp_path, cifar_images):
    images = cifar_images[0]
    for relative in ("b/2.PNG", "a/1.jpeg", "a/deeper/3.webp", "loose.png", ".ipynb_checkpoints/x.png"):
        save(os.path.dirname(str(tmp_path / relative)), os.path.basename(relative), Image.fromarray(images[0]))
    (tmp_path / "notes.txt").write_text("not a picture")
    listing = image_folders.list_images(str(tmp_path))
    assert listing.class_names == ("a", "b")  # hidden folders are no class; subfolders sorted
    assert [entry.relative for entry in listing.files] == ["a/1.jpeg", "a/deeper/3.webp", "b/2.PNG"]
    assert [entry.label for entry in listing.files] == [0, 0, 1] and listing.loose == ["loose.png"]
    flat = tmp_path / "flat"
    save(str(flat), "one.bmp", Image.fromarray(images[1]))
    assert image_folders.list_images(str(flat)).class_names is None
    assert not image_folders.is_cifar_folder(str(tmp_path)) and defDATA.is_image_folder(str(tmp_path))


def test_every_kind_of_picture_becomes_rgb_squares(tmp_path):
    red_strips = np.zeros((40, 80, 3), np.uint8)
    red_strips[:, :20] = red_strips[:, 60:] = (255, 0, 0)
    red_strips[:, 20:60] = (0, 255, 0)
    transparent = Image.new("RGBA", (50, 50), (0, 0, 0, 0))  # transparent black: shown over white
    sixteen = Image.fromarray(np.full((30, 30), 65535, np.uint16))
    pictures = {"wide.png": Image.fromarray(red_strips), "clear.png": transparent, "grey.jpg": Image.new("L", (33, 33), 128),
                "palette.gif": Image.new("P", (20, 20), 3), "photo.webp": Image.new("RGB", (64, 48), (10, 20, 30)),
                "old.bmp": Image.new("RGB", (16, 16), (200, 100, 0)), "deep.png": sixteen}
    for name, picture in pictures.items():
        decoded = image_decoding.decode_image(save(str(tmp_path), name, picture), 32)
        assert decoded.shape == (32, 32, 3) and decoded.dtype == np.uint8, name
    wide = image_decoding.decode_image(str(tmp_path / "wide.png"), 32)
    assert (np.abs(wide.astype(int) - (0, 255, 0)) < 8).all()  # the centred square only: no red strip left
    assert (image_decoding.decode_image(str(tmp_path / "clear.png"), 32) == 255).all()
    assert (image_decoding.decode_image(str(tmp_path / "deep.png"), 32) == 255).all()  # 16 bits: not clipped to black


def test_a_mixed_folder_skips_and_names_the_bad_files(tmp_path, cifar_images, capsys):
    root = make_folder(tmp_path / "mixed", *(part[:12] for part in cifar_images))
    png = sorted(name for name in os.listdir(os.path.join(root, "kitty")) if name.endswith(".png"))[0]
    good = open(os.path.join(root, "kitty", png), "rb").read()
    (tmp_path / "mixed" / "kitty" / "cut.png").write_bytes(good[:len(good) // 2])
    (tmp_path / "mixed" / "kitty" / "text.jpg").write_text("not a JPEG")
    os.mkfifo(tmp_path / "mixed" / "boats" / "pipe.png")  # never opened: reading one waits for ever
    os.symlink("self.png", tmp_path / "mixed" / "boats" / "self.png")  # a link to itself
    save(str(tmp_path / "mixed" / "lonely"), "only.png", Image.fromarray(cifar_images[0][20]))
    images, labels = load_data(root)
    assert images.shape == (13, 32, 32, 3) and sorted(set(labels.tolist())) == [0, 1, 2]
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning")]
    assert len(lines) == 2 and "class 'lonely' has only one image" in lines[1]
    assert "skipped 4 of 17 image files" in lines[0] and "pipe.png is a named pipe" in lines[0]
    assert "self.png cannot be read" in lines[0] and "cut.png damaged or truncated" in lines[0]


def test_the_cache_is_reused_and_rebuilt_when_a_file_changes(tmp_path, cifar_images, monkeypatch):
    root = make_folder(tmp_path / "pictures", *(part[:20] for part in cifar_images))
    first = load_data(root, image_size=64)
    assert first[0].shape == (20, 64, 64, 3)
    decoded = []
    original = image_decoding.decode_image
    monkeypatch.setattr(image_decoding, "decode_image", lambda path, size: decoded.append(path) or original(path, size))
    second = load_data(root, image_size=64)
    assert not decoded and all(np.array_equal(a, b) for a, b in zip(first, second))
    cached = [name for name in os.listdir(image_cache.cache_folder()) if not name.startswith(".tmp-")]
    assert sorted(name.rsplit(".", 1)[1] for name in cached) == ["json", "npy"]  # no temporary file left
    changed = os.path.join(root, "kitty", sorted(os.listdir(os.path.join(root, "kitty")))[0])
    Image.fromarray(cifar_images[0][30]).save(changed)
    os.utime(changed, ns=(1, 1))
    third = load_data(root, image_size=64)
    assert len(decoded) == 20 and not np.array_equal(third[0], first[0])


def test_beyond_the_budget_the_same_seed_gives_the_same_batches(tmp_path, cifar_images, monkeypatch):
    root = make_folder(tmp_path / "pictures", *(part[:40] for part in cifar_images))
    in_memory, labels = load_data(root)
    monkeypatch.setattr(image_cache, "MEMORY_BUDGET", 1000)  # the folder's 122,880 bytes are "too large"
    mapped, mapped_labels = load_data(root)
    assert isinstance(mapped, np.memmap) and not isinstance(in_memory, np.memmap)

    def batches(images):
        dataset = defDATA.make_dataset(images, 8, seed=3, epoch=1, flip=True, skip_batches=1, classes=labels)
        return [(np.asarray(x), np.asarray(y)) for x, y in dataset]

    expected, got = batches(in_memory), batches(mapped)
    assert len(expected) == 4 and all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
                                      for a, b in zip(expected, got))


@pytest.mark.parametrize("problem", ["empty", "unreadable", "loop", "class name", "bomb"])
def test_bad_folders_are_one_line_naming_the_file(problem, tmp_path, cifar_images):
    root = tmp_path / "pictures"
    root.mkdir()
    if problem == "unreadable":
        (root / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    elif problem == "loop":
        save(str(root / "a"), "1.png", Image.fromarray(cifar_images[0][0]))
        os.symlink("..", root / "a" / "again")
    elif problem == "class name":
        save(os.fsdecode(os.path.join(os.fsencode(root), b"caf\xe9")), "1.png", Image.fromarray(cifar_images[0][0]))
    elif problem == "bomb":
        Image.new("1", (9000, 9000)).save(root / "huge.png")  # 81 million pixels in a 10 kB file
    expected = {"empty": "no image files found", "unreadable": "a.png not an image Pillow reads",
                "loop": "again is a symbolic link loop", "class name": "class folder 'caf\\\\xe9'",
                "bomb": "huge.png 9000 x 9000 pixels, too large to decode safely"}[problem]
    with pytest.raises(DataError) as raised:
        load_data(str(root))
    message = str(raised.value)
    assert "\n" not in message and expected in message and str(root) in message, message


def test_non_utf8_file_names_are_read_and_shown_escaped(tmp_path, cifar_images, capsys):
    root = os.fsencode(tmp_path / "pictures")
    os.makedirs(root)
    for index, name in enumerate((b"caf\xe9.png", b"plain.png")):
        Image.fromarray(cifar_images[0][index]).save(os.path.join(root, name))
    with open(os.path.join(root, b"\xff\xfe.png"), "wb") as broken:
        broken.write(b"nothing")
    images, _ = load_data(os.fsdecode(root))
    assert len(images) == 2 and "\\xff\\xfe.png not an image" in capsys.readouterr().err


def test_a_folder_has_no_test_split_and_cifar_is_upscaled(tmp_path, cifar_images, capsys):
    root = make_folder(tmp_path / "pictures", *(part[:4] for part in cifar_images))
    with pytest.raises(DataError, match="a folder of pictures has no test split"):
        load_data(root, split="test")
    images, labels = load_data(MINI_ARCHIVE, split="test", classes=[3], image_size=64)
    assert images.shape[1:] == (64, 64, 3) and images.dtype == np.uint8 and set(labels) == {3}
    assert "upscaling" in capsys.readouterr().out  # said once, as it adds no detail


def test_class_names_pick_classes_by_folder_name():
    names = ("Roses", "tulips", "9")
    assert defDATA.parse_classes("roses,9", names) == [0, 2] and defDATA.parse_classes("1", names) == [1]
    with pytest.raises(DataError, match="unknown class 'cat' .use 0-2 or one of Roses, tulips, 9"):
        defDATA.parse_classes("cat", names)


def test_a_resumed_run_keeps_its_class_folders(tmp_path, cifar_images):
    from machinery.options import RunError, check_same_classes

    root = make_folder(tmp_path / "pictures", *(part[:4] for part in cifar_images))
    check_same_classes({"class_names": ["boats", "kitty"]}, root)
    save(os.path.join(root, "zebra"), "1.png", Image.fromarray(cifar_images[0][9]))
    with pytest.raises(RunError, match=r"has 3 class folders, the run has 2 class folders \(new: zebra\)"):
        check_same_classes({"class_names": ["boats", "kitty"]}, root)
    with pytest.raises(RunError, match="has CIFAR-10's classes, or none, the run has 3 class folders"):
        check_same_classes({"class_names": ["boats", "kitty", "zebra"]}, MINI_ARCHIVE)
