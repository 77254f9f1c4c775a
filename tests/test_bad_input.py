"""Bad input is refused up front: one clear line, non-zero exit, existing files untouched."""
import hashlib
import json
import os
import shutil
import stat

import numpy as np
import pytest

from conftest import TINY, run_script


def tree_digest(folder):
    """{relative path: sha256} of every file below folder; a link or a special file (a FIFO, which
    reading would wait on) stands for itself, by its target or its kind."""
    digests = {}
    for root, subfolders, names in os.walk(folder):
        for name in names + [name for name in subfolders if os.path.islink(os.path.join(root, name))]:
            path = os.path.join(root, name)
            if os.path.islink(path) or not stat.S_ISREG(os.lstat(path).st_mode):
                digests[os.path.relpath(path, folder)] = os.readlink(path) if os.path.islink(path) else "special"
                continue
            with open(path, "rb") as file_object:
                digests[os.path.relpath(path, folder)] = hashlib.sha256(file_object.read()).hexdigest()
    return digests


@pytest.fixture(scope="module")
def finished_run(real_archive, tmp_path_factory):
    run_dir = str(tmp_path_factory.mktemp("bad") / "run")
    result = run_script("train.py", "--data", real_archive, "--out", run_dir, "--epochs", "1",
                        "--steps-per-epoch", "2", *TINY)
    assert result.returncode == 0, result.stderr
    return run_dir


def refused(arguments, message, watched, script="train.py"):
    before = tree_digest(watched)
    result = run_script(script, *arguments)
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert lines and message in lines[-1], result.stderr[-1500:]
    assert not any("Traceback" in line for line in lines)
    assert tree_digest(watched) == before, "a refused command changed existing files"


# One bad value per flag: test_every_flag.py. Here: values that are bad only together or for this data.
@pytest.mark.parametrize("arguments, message", [
    (["--batch-size", "100000"], "--batch-size 100000: must be an even number from 2 to 65536"),
    (["--width", "0.125", "--batch-size", "10200"], "--batch-size 10200: needs 5100 real images per step"),
    (["--loss", "hinge", "--label-smoothing", "0.1"], "only for --loss bce or lsgan"),
    (["--classes", "horse,zebra"], "--classes: unknown class 'zebra'"),
    (["--classes", "horse,ze\nbra"], "--classes: unknown class 'ze\\nbra'"),  # still one line
    (["--width", "40", "--batch-size", "1024"], "training would need about"),
])
def test_nonsense_values(real_archive, finished_run, tmp_path, arguments, message):
    refused(["--data", real_archive, "--out", str(tmp_path / "new" / "run"), *arguments], message, finished_run)
    assert not os.path.exists(tmp_path / "new")  # nothing created for a refused run, not even a parent


def test_existing_run_needs_resume_or_overwrite(real_archive, finished_run):
    refused(["--data", real_archive, "--out", finished_run, *TINY], "already exists and is not empty", finished_run)


def test_resume_of_a_folder_without_a_run(real_archive, finished_run, tmp_path):
    (tmp_path / "empty").mkdir()
    refused(["--resume", str(tmp_path / "empty")], "holds no run", finished_run)


def test_resume_with_a_different_architecture(real_archive, finished_run):
    refused(["--resume", finished_run, "--latent-dim", "32"], "--latent-dim 32 differs from the run's 16", finished_run)


def test_resume_that_asks_for_no_more_epochs(real_archive, finished_run):
    refused(["--resume", finished_run, "--epochs", "1"], "the run already has 1 epochs", finished_run)


def test_unwritable_output(real_archive, finished_run, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    refused(["--data", real_archive, "--out", str(blocker / "run")], "not writable", finished_run)
    refused(["--data", real_archive, "--out", str(blocker)], "exists and is not a folder", finished_run)


def test_full_disk_is_refused_before_training(tmp_path, monkeypatch):
    from machinery import runs
    monkeypatch.setattr(runs.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10, 10, 10))
    with pytest.raises(runs.RunError, match="MB free on that disk"):
        runs.check_new_run_dir(str(tmp_path / "run"), overwrite=False)
    assert not os.path.exists(tmp_path / "run")


def test_bad_data_path(finished_run, tmp_path):
    refused(["--data", str(tmp_path / "missing.tar.gz"), "--out", str(tmp_path / "new")],
            "no such file or directory", finished_run)


def test_samples_refuses_an_incompatible_run(finished_run, tmp_path):
    copy = str(tmp_path / "copy")
    shutil.copytree(finished_run, copy)
    with open(os.path.join(copy, "config.json")) as file_object:
        config = json.load(file_object)
    config["latent_dim"] = 99
    with open(os.path.join(copy, "config.json"), "w") as file_object:
        json.dump(config, file_object)
    refused([copy], "does not match the generator described by config.json", copy, script="samples.py")
    os.remove(os.path.join(copy, "generator.weights.h5"))
    refused([copy, "--no-ema"], "generator.weights.h5: missing", copy, script="samples.py")
    refused([str(tmp_path)], "holds no run (no config.json)", copy, script="samples.py")


def test_divergence_stops_and_keeps_the_last_good_checkpoint(finished_run, tmp_path, capsys, monkeypatch):
    """An injected NaN in D's weights: the run stops with exit code 3 and the message."""
    import train
    from machinery import session
    from machinery.callbacks import NAN_EXIT_CODE
    from machinery.checkpoint import find_latest_checkpoint

    run_dir = str(tmp_path / "run")
    shutil.copytree(finished_run, run_dir)
    checkpoints_before = tree_digest(os.path.join(run_dir, "checkpoints"))
    open_run = session.open_run

    def open_run_then_break_d(plan, args, models, strategy):  # the checkpoint loads, then D's weights go NaN
        state = open_run(plan, args, models, strategy)
        weights = models.discriminator.get_weights()
        weights[0][...] = np.nan
        models.discriminator.set_weights(weights)
        return state

    monkeypatch.setattr(session, "open_run", open_run_then_break_d)
    with pytest.raises(SystemExit) as stopped:
        train.main(["--resume", run_dir, "--epochs", "3"])
    assert stopped.value.code == NAN_EXIT_CODE
    message = capsys.readouterr().out
    assert "diverged at step 2: the discriminator loss is not finite" in message and "learning rate" in message
    assert tree_digest(os.path.join(run_dir, "checkpoints")) == checkpoints_before
    assert find_latest_checkpoint(run_dir)[1]["step"] == 2


def test_a_run_directory_has_one_trainer_at_a_time(tmp_path):
    from machinery import runs
    first = runs.lock_run_dir(str(tmp_path))
    with pytest.raises(runs.RunError, match="another train.py is training in this run directory"):
        runs.lock_run_dir(str(tmp_path))
    first.close()  # the trainer ended: the directory is free again
    runs.lock_run_dir(str(tmp_path)).close()


def test_overwrite_removes_only_what_the_project_wrote(real_archive, finished_run, tmp_path):
    """--overwrite once deleted any folder holding a config.json, with everything else in it."""
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    (run_dir / "notes.txt").write_text("my notes")
    (run_dir / "progress" / "favourite.png").write_bytes(b"png")
    refused(["--data", real_archive, "--out", str(run_dir), "--overwrite", *TINY],
            f"--overwrite refused, {run_dir}/notes.txt was not written by train.py", str(run_dir))
    os.remove(run_dir / "notes.txt")
    refused(["--data", real_archive, "--out", str(run_dir), "--overwrite", *TINY],
            "progress/favourite.png was not written by train.py", str(run_dir))
    os.remove(run_dir / "progress" / "favourite.png")
    (run_dir / "eval.json").write_text("[]")  # evaluate.py's file is the project's own
    result = run_script("train.py", "--data", real_archive, "--out", str(run_dir), "--overwrite", "--epochs", "1",
                        "--steps-per-epoch", "1", *TINY)
    assert result.returncode == 0, result.stderr[-1500:]
    assert not (run_dir / "eval.json").exists() and (run_dir / "checkpoints" / "step-00000001").is_dir()
    assert not (run_dir / "checkpoints" / "step-00000002").exists()  # the old run's files are gone


def test_d_steps_beyond_the_data_is_refused_before_anything_is_written(real_archive, tmp_path, finished_run):
    """--dry-run --d-steps 20 once wrote a run folder and then crashed with KeyError."""
    refused(["--dry-run", "--d-steps", "20", "--data", real_archive, "--out", str(tmp_path / "run")],
            "--batch-size 32 with --d-steps 20: needs 320 real images per step, but there are only 256",
            finished_run)
    assert not os.path.exists(tmp_path / "run")


def test_resume_before_the_first_checkpoint_starts_from_the_config(real_archive, finished_run, tmp_path):
    """A kill before the first checkpoint leaves config.json and nothing to resume: start it afresh."""
    run_dir = tmp_path / "run"
    (run_dir / "progress").mkdir(parents=True)
    shutil.copy(os.path.join(finished_run, "config.json"), run_dir)
    result = run_script("train.py", "--resume", str(run_dir), "--epochs", "1", "--data", real_archive)
    assert result.returncode == 0, result.stderr[-1500:]
    assert "has no checkpoint yet" in result.stdout and "starting it from its config.json" in result.stdout
    assert (run_dir / "checkpoints" / "step-00000002").is_dir()


@pytest.mark.parametrize("digit", ["²", "①", "⑶"])
def test_a_class_number_that_only_looks_like_a_digit_is_one_line(digit, tmp_path):
    """'²'.isdigit() is True, but int('²') fails: samples.py --class ² was a ValueError traceback."""
    pretrained = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pretrained", "cifar10")
    refused([pretrained, "--class", digit, "--out", str(tmp_path / "grid.png")], f"--class: unknown class '{digit}'",
            str(tmp_path), script="samples.py")


def test_a_class_number_in_other_digits_is_one_line(tmp_path):
    """Numbers on the command line are ASCII digits (machinery/numbers.py), --class's too: an Arabic-Indic
    three is named back in one line, as on every other flag, and nothing is drawn."""
    pretrained = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pretrained", "cifar10")
    result = run_script("samples.py", pretrained, "--class", "٣,８", "--out", str(tmp_path / "grid.png"))
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1 and "--class" in lines[0] and "'٣'" in lines[0], lines
    assert not (tmp_path / "grid.png").exists()


@pytest.mark.parametrize("name, script", [("eval.json", "evaluate.py"), ("config.json", "samples.py"),
                                          ("config.json", "evaluate.py")])
def test_a_fifo_in_a_run_is_refused_not_waited_on(name, script, tmp_path):
    """Opening a FIFO to read waits for a writer for ever: evaluate.py and samples.py hung on one."""
    pretrained = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pretrained", "cifar10")
    run_dir = tmp_path / "run"
    shutil.copytree(pretrained, run_dir)
    if (run_dir / name).exists():
        os.remove(run_dir / name)
    os.mkfifo(run_dir / name)
    result = run_script(script, str(run_dir), "--features", "none.tflite", timeout=60) if script == "evaluate.py" \
        else run_script(script, str(run_dir), "--out", str(tmp_path / "grid.png"), timeout=60)
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and lines[0].startswith(f"error: {run_dir / name}: "), lines
    assert "FIFO" in lines[0] or "not a regular file" in lines[0], lines
