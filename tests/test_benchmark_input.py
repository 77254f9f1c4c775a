"""benchmarks/train_classifier.py and benchmarks/quality.py get the care of the main scripts:
a mistake is one line before any training (which takes minutes to hours), output is
never written through a symbolic link nor over a file, and sizes that cannot fit are refused."""
import json
import os
import resource
import sys
import time

import pytest

from conftest import ROOT, run_script
from test_every_flag import read_only

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
CLASSIFIER = os.path.join("benchmarks", "train_classifier.py")
QUALITY = os.path.join("benchmarks", "quality.py")


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


# ---------------------------------------------------------------------------
# quality.py: everything checked before the first configuration trains.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("arguments, message", [
    (["--compare", "--preset 'classic"], "--compare \"--preset 'classic\": No closing quotation"),
    (["--compare", "--presett classic"], "--compare '--presett classic': unrecognized arguments: --presett"),
    (["--compare", "--lr nan"], "--compare '--lr nan': argument --lr: 'nan' is not a finite number"),
    (["--compare", "--epochs 3"], "--compare '--epochs 3': sets --epochs, which quality.py sets itself"),
    (["--compare", "--out x"], "--compare '--out x': sets --out, which quality.py sets itself"),
    # Found by the last hostile pass: train.py's own checks of a new run's config, dry, before any training.
    (["--compare", "--preset bogus"], "--compare '--preset bogus': --preset: unknown preset"),
    (["--compare", "--loss hinge --label-smoothing 0.1"], "only for --loss bce or lsgan"),
    (["--n", "20000"], "--n 20000: the test split holds only"),  # evaluate.py --real-test refuses it at the end
    (["--steps", "-5"], "--steps -5: must be at least 1"),
    (["--steps", "0"], "--steps 0: must be at least 1"),
    (["--minutes", "0"], "--minutes 0: must be from 1 to 100000"),
    (["--minutes", "0.2"], "--minutes 0.2: must be from 1 to 100000"),
    (["--minutes", "3", "--budgets", "2.5"], "--budgets 2.5: each must be at least 1 minute after the one before"),
    (["--steps", "5", "--budgets", "2"], "--budgets: only with --minutes, not --steps"),
    (["--n", "1"], "--n 1: must be from 2 to 1000000"),
    (["--n", "100000000"], "--n 100000000: must be from 2 to 1000000"),
    # --n within the mini archive's 1,017 test images, so that only --features is wrong.
    (["--features", "{tmp}/none.tflite", "--n", "100"], "--features {tmp}/none.tflite: no such file"),
    (["--classifier", "{tmp}/none.keras"], "--classifier {tmp}/none.keras: no such file"),
    (["--out", ""], "--out: empty path"),
])
def test_quality_refuses_before_training(real_archive, tmp_path, arguments, message):
    arguments = [argument.format(tmp=tmp_path) for argument in arguments]
    one_line(QUALITY, ["--data", real_archive, "--out", str(tmp_path / "q"), *arguments], message.format(tmp=tmp_path))
    assert not (tmp_path / "q").exists()


def test_quality_output_that_is_a_symbolic_link(real_archive, tmp_path):
    os.symlink(tmp_path / "elsewhere", tmp_path / "q")
    one_line(QUALITY, ["--data", real_archive, "--out", str(tmp_path / "q"), "--steps", "1"],
             f"--out {tmp_path / 'q'}: is a symbolic link; nothing is written through one")
    assert not (tmp_path / "elsewhere").exists()


def test_quality_output_folder_not_writable(real_archive, tmp_path):
    (tmp_path / "ro").mkdir()
    with read_only(str(tmp_path / "ro")):
        one_line(QUALITY, ["--data", real_archive, "--out", str(tmp_path / "ro" / "q"), "--steps", "1"],
                 "cannot write there")


def test_a_budget_that_ends_before_the_first_checkpoint_is_one_line(tmp_path, monkeypatch):
    """train.py stopped during its start-up wrote no checkpoint: say so, not FileNotFoundError."""
    import quality

    monkeypatch.setattr(quality, "script", lambda name, *arguments: [sys.executable, "-c",
                                                                      "import time; time.sleep(60)"])
    with pytest.raises(SystemExit) as stopped:
        quality.train_for(0.01, str(tmp_path / "run"), None, "")
    assert str(stopped.value.code).startswith("error: train.py wrote no checkpoint in its 0.01 minutes")
    assert "\n" not in str(stopped.value.code)


def test_a_failed_evaluation_without_output_is_one_line(tmp_path, monkeypatch):
    """evaluate.py killed (out of memory, say) prints nothing: that once raised IndexError."""
    import quality

    (tmp_path / "config.json").write_text(json.dumps({"conditional": False}))
    monkeypatch.setattr(quality, "script", lambda name, *arguments: [sys.executable, "-c", "raise SystemExit(9)"])
    with pytest.raises(SystemExit) as stopped:
        quality.score(str(tmp_path), [])
    assert stopped.value.code == "error: evaluate.py failed (exit 9) and said nothing"


def test_a_failed_training_is_one_line(tmp_path, monkeypatch):
    import quality

    monkeypatch.setattr(quality, "script", lambda name, *arguments: [
        sys.executable, "-c", "import sys; sys.stderr.write('line one\\nerror: the last line\\n'); sys.exit(1)"])
    with pytest.raises(SystemExit) as stopped:
        quality.train_for(1, str(tmp_path / "run"), None, "")
    assert stopped.value.code == "error: train.py stopped early (exit 1): error: the last line"


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


@pytest.mark.parametrize("arguments, message", [
    (["--data", "/dev/zero"], "--data /dev/zero: is a character device, not a regular file or folder"),
    (["--presets", "classic,best"], "--presets: unknown preset 'best'"),
    (["--repeats", "0"], "--repeats 0: must be at least 1"),
    (["--image-size", "32,48"], "--image-size 32,48: must be distinct sizes from 32, 64, 128"),
])
def test_throughput_refuses_before_tensorflow_loads(arguments, message):
    """It read --data after loading TensorFlow (a DataError traceback), and an unknown preset or no
    repeats only once it had timed the machine's peak rate."""
    one_line(os.path.join("benchmarks", "throughput.py"), arguments, message)


def processes_naming(text):
    """Ids of the processes whose command line holds `text`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as file_object:
                if text.encode() in file_object.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def test_quality_stopped_stops_its_training_too(real_archive, tmp_path, tiny_features):
    """SIGTERM (kill, a scheduler's timeout) once left train.py training for 100000 epochs, an orphan."""
    import signal
    import subprocess

    out = str(tmp_path / "q")
    process = subprocess.Popen([sys.executable, QUALITY, "--data", real_archive, "--out", out, "--features",
                                tiny_features, "--n", "100",
                                "--compare", "--width 0.125 --latent-dim 16 --batch-size 16"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().startswith("$ ")  # train.py started
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=120)
        for _ in range(60):  # its train.py stops too, at once or after saving
            if not processes_naming(out):
                break
            time.sleep(1)
        orphans = processes_naming(out)
    finally:
        process.kill()
        for pid in processes_naming(out):
            os.kill(pid, signal.SIGKILL)
    assert not orphans, "train.py was left running"
    assert process.returncode != 0 and "Traceback" not in stderr, stderr[-2000:]
    assert stderr.strip().splitlines()[-1].startswith("stopped by a signal")
