"""A bad value for every flag of train.py, samples.py and evaluate.py: one line, before TensorFlow loads.

Each row runs the script as a user would and checks the contract: a non-zero
exit, exactly one line of output in total (no usage block, no TensorFlow
start-up lines, no traceback) that names what is wrong, and every file of an
existing run byte-for-byte unchanged. A flag added to a script without a row
here fails `test_every_flag_has_a_row`.
"""
import contextlib
import os
import shutil
import subprocess

import pytest

from conftest import TINY, run_script
from test_bad_input import tree_digest

# {data}: the CIFAR-10 archive, {run}: a finished run, {tmp}: an empty folder, {file}: a plain text file.
NEW = ["--data", "{data}", "--out", "{tmp}/new"]
TRAIN = [
    ("--data", ["--data", "{tmp}/missing.tar.gz", "--out", "{tmp}/new"], "--data {tmp}/missing.tar.gz: no such file"),
    ("--out", ["--data", "{data}", "--out", "{file}/run"], "not writable"),
    ("--epochs", NEW + ["--epochs", "0"], "--epochs 0: must be"),
    ("--preset", NEW + ["--preset", "best"], "unknown preset 'best'"),
    ("--steps-per-epoch", NEW + ["--steps-per-epoch", "0"], "--steps-per-epoch 0: must be from 1 to 1000000000"),
    ("--batch-size", NEW + ["--batch-size", "7"], "--batch-size 7: must be an even number"),
    ("--architecture", NEW + ["--architecture", "resnet"], "argument --architecture: invalid choice: 'resnet'"),
    ("--latent-dim", NEW + ["--latent-dim", "0"], "--latent-dim 0: must be from 1"),
    ("--width", NEW + ["--width", "nan"], "argument --width: 'nan' is not a finite number"),
    ("--loss", NEW + ["--loss", "mse"], "argument --loss: invalid choice: 'mse'"),
    ("--batch-norm", NEW + ["--batch-norm=yes"], "argument --batch-norm/--no-batch-norm: ignored explicit argument"),
    ("--conditional", NEW + ["--conditional=1"], "argument --conditional/--no-conditional: ignored explicit"),
    ("--spectral-norm", NEW + ["--spectral-norm=1"], "argument --spectral-norm/--no-spectral-norm: ignored explicit"),
    ("--dropout", NEW + ["--dropout", "1"], "--dropout 1.0: must be in [0, 1)"),
    ("--label-smoothing", NEW + ["--label-smoothing", "0.5"], "--label-smoothing 0.5: must be in [0, 0.5)"),
    ("--augment", NEW + ["--augment", "zoom"], "--augment zoom: unknown augmentation zoom"),
    ("--image-size", NEW + ["--image-size", "48"], "argument --image-size: invalid choice: 48"),
    ("--lr", NEW + ["--lr", "inf"], "argument --lr: 'inf' is not a finite number"),
    ("--lr-d", NEW + ["--lr-d", "-1"], "--lr-d -1.0: must be positive"),
    ("--lr-g", NEW + ["--lr-g", "0"], "--lr-g 0.0: must be positive"),
    ("--beta1", NEW + ["--beta1", "1"], "--beta1 1.0: must be in [0, 1)"),
    ("--beta2", NEW + ["--beta2", "-0.1"], "--beta2 -0.1: must be in [0, 1)"),
    ("--d-steps", NEW + ["--d-steps", "0"], "--d-steps 0: must be from 1"),
    ("--warmup-steps", NEW + ["--warmup-steps", "-1"], "--warmup-steps -1: must be from 0 to 1000000000"),
    ("--ema", NEW + ["--ema", "1"], "--ema 1.0: must be in [0, 1)"),
    ("--seed", NEW + ["--seed", "-1"], "--seed -1: must be a whole number from 0"),
    ("--classes", NEW + ["--classes", "zebra"], "--classes: unknown class 'zebra'"),
    ("--flip", NEW + ["--flip=no"], "argument --flip/--no-flip: ignored explicit argument 'no'"),
    ("--precision", NEW + ["--precision", "float64"], "argument --precision: invalid choice: 'float64'"),
    ("--jit-compile", NEW + ["--jit-compile", "maybe"], "argument --jit-compile: invalid choice: 'maybe'"),
    ("--strategy", NEW + ["--strategy", "tpu"], "argument --strategy: invalid choice"),
    ("--cpu-replicas", NEW + ["--cpu-replicas", "-1"], "--cpu-replicas -1: must be from 0"),
    ("--resume", ["--resume", "{tmp}/missing"], "--resume {tmp}/missing: holds no run"),
    ("--overwrite", NEW + ["--overwrite=1"], "argument --overwrite: ignored explicit argument '1'"),
    ("--checkpoint-every", NEW + ["--checkpoint-every", "-1"], "--checkpoint-every -1: must be from 0 to 1000000000"),
    ("--keep", NEW + ["--keep", "0"], "--keep 0: must be from 1 to 1000000"),
    ("--eval-every", NEW + ["--eval-every", "-1"], "--eval-every -1: must be from 0 to 10000000"),
    ("--eval-samples", NEW + ["--eval-samples", "1"], "--eval-samples 1: must be from 2"),
    ("--features", NEW + ["--eval-every", "1", "--features", "{file}"], "--features {file}: unknown kind"),
    ("--dry-run", NEW + ["--dry-run=1"], "argument --dry-run: ignored explicit argument '1'"),
]
SAMPLES = [
    ("run_dir", ["{tmp}/missing"], "{tmp}/missing: no such run directory"),
    ("--rows", ["{run}", "--rows", "0"], "--rows 0: must be from 1 to 100"),
    ("--cols", ["{run}", "--cols", "100000"], "--cols 100000: must be from 1 to 100"),
    ("--seed", ["{run}", "--seed", "-3"], "--seed -3: must be 0 or more"),
    ("--out", ["{run}", "--out", "{tmp}/grid.gif"], "--out {tmp}/grid.gif: unknown image type"),
    ("--out", ["{run}", "--out", "{tmp}/missing/grid.png"], "the folder {tmp}/missing does not exist"),
    ("--out", ["{run}", "--out", "{run}/progress"], "unknown image type"),
    ("--individual", ["{run}", "--out", "{tmp}/g.png", "--individual", "{file}"], "exists and is not a folder"),
    ("--force", ["{run}", "--force=1"], "argument --force: ignored explicit argument"),
    ("--interpolate", ["{run}", "--interpolate=1"], "argument --interpolate: ignored explicit argument"),
    ("--class", ["{run}", "--class", "unicorn"], "--class: unknown class 'unicorn'"),
    ("--class", ["{run}", "--class", "ship"], "is not conditional"),
    ("--progress", ["{run}", "--progress", "{tmp}/progress.png"], "--progress {tmp}/progress.png: unknown image"),
    ("--nearest", ["{run}", "--nearest", "--cols", "1"], "--cols 1: --nearest needs 2 or more"),
    ("--features", ["{run}", "--nearest", "--features", "{tmp}/none.tflite"], "--features {tmp}/none.tflite: no such"),
    ("--data", ["{run}", "--nearest", "--data", "{tmp}/none.tar.gz"], "--data {tmp}/none.tar.gz: no such file"),
    ("--no-ema", ["{run}", "--no-ema=1"], "argument --no-ema: ignored explicit argument"),
]
EVALUATE = [
    ("run_dir", ["{tmp}/missing"], "{tmp}/missing: no such run directory"),
    ("--n", ["{run}", "--n", "1"], "--n 1: must be from 2"),
    ("--data", ["{run}", "--data", "{tmp}/missing.tar.gz"], "--data {tmp}/missing.tar.gz: no such file"),
    ("--features", ["{run}", "--features", "{tmp}/missing.tflite"], "--features {tmp}/missing.tflite: no such file"),
    ("--inception-weights", ["{run}", "--features", "keras-inception", "--inception-weights", "{file}"],
     "--inception-weights {file}: unknown kind"),
    ("--batch-size", ["{run}", "--batch-size", "0"], "--batch-size 0: must be from 1"),
    ("--seed", ["{run}", "--seed", "-1"], "--seed -1: must be from 0"),
    ("--real-test", ["--real-test=yes"], "argument --real-test: ignored explicit argument"),
    ("--no-ema", ["{run}", "--no-ema=yes"], "argument --no-ema: ignored explicit argument"),
    ("--classifier", ["{run}", "--classifier", "{file}"], "--classifier {file}: not a .keras file"),
    ("--cache-dir", ["{run}", "--cache-dir", "{file}"], "--cache-dir {file}: exists and is not a folder"),
]
TABLES = {"train.py": TRAIN, "samples.py": SAMPLES, "evaluate.py": EVALUATE}
ROWS = [(script, *row) for script, table in TABLES.items() for row in table]


@pytest.fixture(scope="module")
def places(real_archive, tmp_path_factory):
    """{data, run, file}: the archive, a finished one-epoch run (with --ema) and a plain file."""
    folder = tmp_path_factory.mktemp("every-flag")
    run_dir = str(folder / "run")
    result = run_script("train.py", "--data", real_archive, "--out", run_dir, "--epochs", "1",
                        "--steps-per-epoch", "1", "--ema", "0.9", *TINY)
    assert result.returncode == 0, result.stderr[-1500:]
    (folder / "notes.txt").write_text("not a model")
    return {"data": real_archive, "run": run_dir, "file": str(folder / "notes.txt")}


def expect_one_line(script, arguments, message, watched):
    """Run, then check the contract: non-zero exit, one line naming the problem, nothing changed."""
    before = tree_digest(watched)
    result = run_script(script, *arguments, timeout=120)
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0, result.stdout[-1000:]
    assert len(lines) == 1, "expected one line, got:\n" + "\n".join(lines[-12:])
    assert lines[0].startswith("error: ") and message in lines[0], lines[0]
    assert tree_digest(watched) == before, "a refused command changed existing files"


@pytest.mark.parametrize("script, flag, arguments, message", ROWS, ids=[f"{row[0]} {row[1]}" for row in ROWS])
def test_a_bad_value_is_one_line(places, tmp_path, script, flag, arguments, message):
    names = dict(places, tmp=str(tmp_path))
    expect_one_line(script, [argument.format(**names) for argument in arguments], message.format(**names),
                    places["run"])
    assert not os.path.exists(tmp_path / "new")  # nothing created for a refused run


@pytest.mark.parametrize("script", TABLES)
def test_every_flag_has_a_row(script, monkeypatch):
    """The tables above cover every flag each script's parser knows (help aside)."""
    from machinery import options

    parsers = []
    monkeypatch.setattr(options.ArgumentParser, "parse_args", lambda self, argv=None: parsers.append(self) or 1 / 0)
    with pytest.raises(ZeroDivisionError):
        __import__(script[:-3]).parse_args([])
    flags = {action.option_strings[0] if action.option_strings else action.dest
             for action in parsers[0]._actions if action.dest != "help"}
    assert flags == {row[0] for row in TABLES[script]}


@contextlib.contextmanager
def read_only(folder):
    """A folder no file can be created in, even for root (which ignores permission bits)."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", folder], check=True)
    else:
        os.chmod(folder, 0o555)
    try:
        yield
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", folder], check=True)
        else:
            os.chmod(folder, 0o755)


def test_read_only_folders_are_one_line(places, tmp_path):
    run_dir = str(tmp_path / "run")
    shutil.copytree(places["run"], run_dir)
    with read_only(run_dir):
        expect_one_line("train.py", ["--resume", run_dir, "--epochs", "2"], f"--resume {run_dir}: cannot write",
                        run_dir)
    (tmp_path / "out").mkdir()
    with read_only(str(tmp_path / "out")):
        expect_one_line("samples.py", [run_dir, "--out", str(tmp_path / "out" / "grid.png")],
                        "cannot write there", run_dir)


@pytest.mark.parametrize("script, arguments, message", [
    ("train.py", ["--resume", "{run}", "--out", ""], "--out: empty path"),
    ("train.py", ["--data", ""], "--data: empty path"),
    ("samples.py", [""], "run_dir: empty path"),
    ("samples.py", ["{run}", "--out", ""], "--out: empty path"),
    ("evaluate.py", ["{run}", "--data", ""], "--data: empty path"),
])
def test_an_empty_path_is_not_a_missing_one(places, tmp_path, script, arguments, message):
    """`--resume ""` once started a new run in runs/cifar10."""
    expect_one_line(script, [argument.format(**places) for argument in arguments], message, places["run"])
