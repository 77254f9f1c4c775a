"""benchmarks/train_classifier.py and benchmarks/quality.py get the care of the main scripts:
a mistake is one line before any training (which takes minutes to hours), output is
never written through a symbolic link nor over a file, and sizes that cannot fit are refused."""
import os
import resource
import sys

import pytest

from conftest import ROOT, run_script
from test_every_flag import read_only

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
CLASSIFIER = os.path.join("benchmarks", "train_classifier.py")


def one_line(script, arguments, message, timeout=120, **options):
    result = run_script(script, *arguments, timeout=timeout, **options)
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, lines[-8:]
    assert lines[0].startswith("error: ") and message in lines[0], lines[0]


# ---------------------------------------------------------------------------
# train_classifier.py: --out is checked before the data is read and TensorFlow loads.
# ---------------------------------------------------------------------------
def test_classifier_output_folder_that_does_not_exist(tmp_path):
    out = tmp_path / "missing" / "c.keras"
    one_line(CLASSIFIER, ["--data", str(tmp_path / "no-data"), "--out", str(out)],
             f"--out {out}: the folder {tmp_path / 'missing'} does not exist")


def test_classifier_output_folder_not_writable(tmp_path):
    (tmp_path / "ro").mkdir()
    with read_only(str(tmp_path / "ro")):
        one_line(CLASSIFIER, ["--data", str(tmp_path / "no-data"), "--out", str(tmp_path / "ro" / "c.keras")],
                 "cannot write there")


def test_classifier_output_that_is_a_symbolic_link(tmp_path):
    """A dangling link: os.path.exists says False, and Keras would write the file where it points."""
    link = tmp_path / "c.keras"
    os.symlink(tmp_path / "elsewhere.keras", link)
    one_line(CLASSIFIER, ["--data", str(tmp_path / "no-data"), "--out", str(link)],
             f"--out {link}: is a symbolic link; nothing is written through one")
    assert not (tmp_path / "elsewhere.keras").exists()


def test_classifier_output_that_is_not_a_keras_file(tmp_path):
    one_line(CLASSIFIER, ["--data", str(tmp_path / "no-data"), "--out", str(tmp_path / "c.h5")],
             f"--out {tmp_path / 'c.h5'}: must end in .keras")


@pytest.mark.parametrize("arguments, message", [
    (["--seed", "-1"], "--seed -1: must be from 0 to 4294967295"),
    (["--seed", "4294967296"], "--seed 4294967296: must be from 0 to 4294967295"),
    (["--epochs", "1000000"], "--epochs 1000000: must be at most 100000"),
])
def test_classifier_numbers_out_of_range(tmp_path, arguments, message):
    one_line(CLASSIFIER, ["--data", str(tmp_path / "no-data"), "--out", str(tmp_path / "c.keras"), *arguments],
             message)


def limited_memory():
    """The child may reserve at most 6 GiB: an attempt at the sizes below dies, a refusal does not."""
    resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))


@pytest.mark.parametrize("arguments, message", [
    (["--batch-size", "6000"], "--batch-size 6000: more than the 5085 training images"),
    (["--width", "4096"], "--width 4096, --batch-size 128: training would need about"),
    (["--batch-size", "5000", "--width", "512"], "--width 512, --batch-size 5000: training would need about"),
])
def test_classifier_sizes_that_cannot_train(real_archive, tmp_path, arguments, message):
    if "mini" not in real_archive:
        pytest.skip("the image count is that of ../shared's mini archive")
    one_line(CLASSIFIER, ["--data", real_archive, "--out", str(tmp_path / "c.keras"), "--epochs", "1", *arguments],
             message, preexec_fn=limited_memory)
    assert not (tmp_path / "c.keras").exists()


def test_classifier_stopped_by_ctrl_c_is_one_line(real_archive, tmp_path):
    import signal
    import subprocess
    import time

    out = tmp_path / "c.keras"
    process = subprocess.Popen([sys.executable, CLASSIFIER, "--data", real_archive, "--out", str(out), "--epochs",
                                "1000", "--width", "2"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1"))
    try:
        for line in process.stdout:  # printed just before training starts
            if line.startswith("Keras "):
                break
        time.sleep(5)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode != 0 and "Traceback" not in stderr, stderr[-2000:]
    assert stderr.strip().splitlines()[-1].startswith("stopped by Ctrl-C before the end of the training")
    assert not out.exists()
