"""Damaged run folders, odd folder names, an interrupted start and no network: never a traceback, nothing lost.

Every file that a resume or samples.py reads is truncated, emptied, or replaced
by valid JSON of the wrong shape. A damaged checkpoint falls back to the older
intact one; a damaged file that is read before training (config.json, the
generator's weights) stops the command with one line and changes nothing.
"""
import os
import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

import pytest

from machinery.checkpoint import find_latest_checkpoint
from conftest import ROOT, TINY, run_script
from test_bad_input import tree_digest
from test_every_flag import expect_one_line

DAMAGES = {"truncated": lambda data: data[:len(data) // 2], "emptied": lambda data: b"",
           "JSON of the wrong shape": lambda data: b'{"epoch": [1, 2], "step": "x"}',
           "nested 100,000 deep": lambda data: b"[" * 100_000 + b"]" * 100_000}  # once a RecursionError


@pytest.fixture(scope="module")
def two_checkpoints(real_archive, tmp_path_factory):
    """A run with --ema, 2 epochs of 1 step: checkpoints step-00000001 and step-00000002."""
    run_dir = str(tmp_path_factory.mktemp("damaged") / "run")
    result = run_script("train.py", "--data", real_archive, "--out", run_dir, "--epochs", "2", "--steps-per-epoch",
                        "1", "--ema", "0.9", *TINY)
    assert result.returncode == 0, result.stderr[-1500:]
    return run_dir


def damaged_copy(run_dir, tmp_path, relative, damage):
    copy = str(tmp_path / "run")
    shutil.copytree(run_dir, copy)
    with open(os.path.join(copy, relative), "rb") as file_object:
        data = file_object.read()
    with open(os.path.join(copy, relative), "wb") as file_object:
        file_object.write(DAMAGES[damage](data))
    return copy


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("name", ["state.weights.h5", "generator.ema.weights.h5", "fixed_noise.npy", "state.json"])
def test_a_damaged_checkpoint_file_falls_back_to_the_older_checkpoint(two_checkpoints, tmp_path, name, damage):
    copy = damaged_copy(two_checkpoints, tmp_path, f"checkpoints/step-00000002/{name}", damage)
    warnings = []
    path, state, _ = find_latest_checkpoint(copy, report=warnings.append)
    assert os.path.basename(path) == "step-00000001" and state["step"] == 1
    assert len(warnings) == 1 and "step-00000002" in warnings[0]
    assert os.path.isdir(os.path.join(copy, "checkpoints", "step-00000002"))  # reading never deletes


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("script, arguments, name, message", [
    ("train.py", ["--resume", "{run}", "--epochs", "3"], "config.json", "config.json"),
    ("samples.py", ["{run}"], "config.json", "config.json"),
    ("samples.py", ["{run}"], "generator.ema.weights.h5", "generator.ema.weights.h5: damaged weights file"),
    ("evaluate.py", ["{run}", "--features", "{run}/../missing.tflite"], "generator.ema.weights.h5",
     "generator.ema.weights.h5: damaged weights file"),
])
def test_a_damaged_file_read_up_front_is_one_line(two_checkpoints, tmp_path, script, arguments, name, message,
                                                  damage):
    copy = damaged_copy(two_checkpoints, tmp_path, name, damage)
    expect_one_line(script, [argument.format(run=copy) for argument in arguments], message, copy)


def test_printed_commands_paste_into_a_shell(real_archive, tmp_path):
    """A run folder named with spaces, an accent and a would-be command: the printed lines work when pasted."""
    run_dir = str(tmp_path / "my run ü; touch pwned")
    result = run_script("train.py", "--data", real_archive, "--out", run_dir, "--epochs", "1", "--steps-per-epoch",
                        "1", *TINY)
    assert result.returncode == 0, result.stderr[-1500:]
    printed = result.stdout.split("Draw samples with: ")[1].strip()
    assert printed == f"python samples.py {shlex.quote(run_dir)}"
    python = shlex.quote(sys.executable)
    pasted = subprocess.run(printed.replace("python", python, 1), shell=True, cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert pasted.returncode == 0, pasted.stderr[-1500:]
    assert os.path.isfile(os.path.join(run_dir, "samples.png")) and not os.path.exists(os.path.join(ROOT, "pwned"))


def test_ctrl_c_while_starting_stops_cleanly_and_resumes(real_archive, tmp_path):
    run_dir = str(tmp_path / "run")
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "train.py", "--data", real_archive, "--out", run_dir, "--epochs", "1",
                                "--steps-per-epoch", "1", *TINY], cwd=ROOT, env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(1.5)  # past Python's own start, inside the data loading or TensorFlow's start-up
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0 and "Traceback" not in output, output[-2000:]
    assert "stopped before the first step; resume with: python train.py --resume" in output
    result = run_script("train.py", "--resume", run_dir, "--epochs", "1", "--data", real_archive)
    assert result.returncode == 0, result.stderr[-1500:]
    assert os.path.isdir(os.path.join(run_dir, "checkpoints", "step-00000001"))


def test_no_network_and_no_data_is_one_line(tmp_path):
    """Without --data the official archive is downloaded once; offline, that is one line before TensorFlow loads."""
    closed_port = "http://127.0.0.1:9"  # a proxy that refuses at once: nothing is ever downloaded
    environment = dict(os.environ, HOME=str(tmp_path), HTTPS_PROXY=closed_port, https_proxy=closed_port)
    result = subprocess.run([sys.executable, "train.py", "--dry-run", *TINY], cwd=ROOT, env=environment,
                            capture_output=True, text=True, timeout=120)
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, lines  # nothing said of downloading: no server answered
    assert lines[0].startswith("error: could not download CIFAR-10") and lines[0].count("--data PATH") == 1
    assert not os.path.exists(tmp_path / ".keras")  # no folder, no partial download left behind
    assert tree_digest(str(tmp_path)) == {}


def test_eval_json_of_the_wrong_shape_is_one_line(two_checkpoints, tmp_path):
    copy = str(tmp_path / "run")
    shutil.copytree(two_checkpoints, copy)
    with open(os.path.join(copy, "eval.json"), "w") as file_object:
        file_object.write('{"fd": 3}')
    expect_one_line("evaluate.py", [copy, "--features", os.path.join(copy, "missing.tflite")],
                    "eval.json: holds a JSON dict, not a list of results", copy)


def test_resume_after_config_json_was_edited_is_one_error_line(two_checkpoints, tmp_path):
    """Weights that no longer fit the networks config.json describes: known only once TensorFlow has built
    them, so TensorFlow's start-up lines come first; then one error line, no traceback, nothing changed."""
    copy = str(tmp_path / "run")
    shutil.copytree(two_checkpoints, copy)
    with open(os.path.join(copy, "config.json")) as file_object:
        config = file_object.read()
    with open(os.path.join(copy, "config.json"), "w") as file_object:
        file_object.write(config.replace('"latent_dim": 16', '"latent_dim": 17'))
    before = tree_digest(copy)
    result = run_script("train.py", "--resume", copy, "--epochs", "3")
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "weights do not fit the networks" in last, last
    assert tree_digest(copy) == before


def test_no_network_for_the_fid_network_is_one_line(two_checkpoints, tmp_path):
    closed_port = "http://127.0.0.1:9"  # a proxy that refuses at once: nothing is ever downloaded
    environment = dict(os.environ, HOME=str(tmp_path), HTTPS_PROXY=closed_port, https_proxy=closed_port)
    result = subprocess.run([sys.executable, "evaluate.py", two_checkpoints], cwd=ROOT, env=environment,
                            capture_output=True, text=True, timeout=120)
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, lines  # nothing said of downloading: no server answered
    assert "error: --features inception: could not download the FID network" in lines[0]
    assert "offline, pass --features PATH to inception-2015-12-05.pt" in lines[0]
    assert not os.path.exists(tmp_path / ".keras")  # not even an empty folder


def test_a_checkpoint_of_the_older_layout_resumes_exactly(two_checkpoints, real_archive, tmp_path):
    """Checkpoints written before 2026-11-27 keep the discriminator under "layers/model" (then a keras.Model
    subclass) and name the EMA file ema_generator.weights.h5; they resume to the very weights a checkpoint
    of today's layout gives."""
    import h5py
    from machinery.checkpoint import file_sha256, state_checksum
    from conftest import weights_of

    today, older = str(tmp_path / "today"), str(tmp_path / "older")
    shutil.copytree(two_checkpoints, today)
    shutil.copytree(two_checkpoints, older)
    folder = os.path.join(older, "checkpoints", "step-00000002")
    with h5py.File(os.path.join(folder, "state.weights.h5"), "r+") as file_object:
        file_object.move("layers/functional_1", "layers/model")
    with open(os.path.join(folder, "state.json")) as file_object:
        state = json.load(file_object)
    state["sha256"]["state.weights.h5"] = file_sha256(os.path.join(folder, "state.weights.h5"))
    os.rename(os.path.join(folder, "generator.ema.weights.h5"), os.path.join(folder, "ema_generator.weights.h5"))
    state["sha256"]["ema_generator.weights.h5"] = state["sha256"].pop("generator.ema.weights.h5")
    state["state_sha256"] = state_checksum(state)
    with open(os.path.join(folder, "state.json"), "w") as file_object:
        json.dump(state, file_object)
    for run_dir in (today, older):
        result = run_script("train.py", "--resume", run_dir, "--epochs", "3", "--data", real_archive)
        assert result.returncode == 0 and "from " + run_dir in result.stdout, result.stderr[-2000:]
    for name in ("generator.weights.h5", "discriminator.weights.h5", "generator.ema.weights.h5"):
        a, b = weights_of(os.path.join(today, name)), weights_of(os.path.join(older, name))
        assert a.keys() == b.keys() and all((a[key] == b[key]).all() for key in a), name


@pytest.mark.parametrize("damage", ["no checkpoints folder", "checkpoints is a file", "only a damaged checkpoint"])
def test_resume_never_trains_again_over_trained_weights(two_checkpoints, tmp_path, damage):
    """A trained run without a usable checkpoint was "started from its config.json, nothing is lost": step 0
    again, over its weights, metrics.csv, grids and TensorBoard events. It is refused, and nothing changes."""
    copy = str(tmp_path / "run")
    shutil.copytree(two_checkpoints, copy)
    checkpoints = os.path.join(copy, "checkpoints")
    if damage == "only a damaged checkpoint":
        shutil.rmtree(os.path.join(checkpoints, "step-00000002"))
        os.rename(os.path.join(checkpoints, "step-00000001"), os.path.join(checkpoints, "damaged-step-00000001"))
    else:
        shutil.rmtree(checkpoints)
    if damage == "checkpoints is a file":
        with open(checkpoints, "w") as file_object:
            file_object.write("not a folder")
    message = "checkpoints: is not a folder" if damage == "checkpoints is a file" else "holds trained weights"
    expect_one_line("train.py", ["--resume", copy, "--epochs", "3"], message, copy)


def test_resume_of_a_copy_of_the_shipped_generator_is_refused(real_archive, tmp_path):
    """pretrained/cifar10 holds config.json and trained weights, and no checkpoint: nothing to resume."""
    import train
    from machinery import runs

    copy = str(tmp_path / "cifar10")
    shutil.copytree(os.path.join(ROOT, "pretrained", "cifar10"), copy)
    before = tree_digest(copy)
    with pytest.raises(runs.RunError, match="holds trained weights .*generator.ema.weights.h5.* --out"):
        args = train.parse_args(["--resume", copy, "--epochs", "2", "--data", real_archive])
        runs.check_run(args, runs.resume_config(args))
    assert tree_digest(copy) == before


def test_eval_json_nested_too_deeply_is_one_line(two_checkpoints, tmp_path):
    copy = str(tmp_path / "run")
    shutil.copytree(two_checkpoints, copy)
    with open(os.path.join(copy, "eval.json"), "w") as file_object:
        file_object.write("[" * 100_000 + "]" * 100_000)
    expect_one_line("evaluate.py", [copy, "--features", os.path.join(copy, "missing.tflite")],
                    "eval.json: not readable JSON", copy)


def test_a_state_json_without_its_checksum_is_not_trusted(two_checkpoints, tmp_path):
    """Only "checked by shape": an edited state.json without its checksum was used, then failed on its edits."""
    copy = str(tmp_path / "run")
    shutil.copytree(two_checkpoints, copy)
    path = os.path.join(copy, "checkpoints", "step-00000002", "state.json")
    with open(path) as file_object:
        state = json.load(file_object)
    del state["state_sha256"]
    state["random_state"] = [[1, 2, 3]]  # of the right type, the wrong shape
    with open(path, "w") as file_object:
        json.dump(state, file_object)
    warnings = []
    found_path, found_state, _ = find_latest_checkpoint(copy, report=warnings.append)
    assert os.path.basename(found_path) == "step-00000001" and found_state["step"] == 1
    assert len(warnings) == 1 and "step-00000002" in warnings[0] and "no checksum" in warnings[0], warnings


TENSORFLOW_LOG = re.compile(r"[IWEF]\d{4} [\d:.]+ +\d+ \S+:\d+\]|WARNING: All log messages before absl::InitializeLog")


def after_start_up(output):
    """The lines besides TensorFlow's start-up lines and train.py's 'precision' and 'devices' lines."""
    return [line for line in output.strip().splitlines()
            if line and not TENSORFLOW_LOG.match(line) and not line.startswith(("precision ", "devices: "))]


def test_weights_that_do_not_fit_config_json_are_one_line_without_keras_warnings(two_checkpoints, tmp_path):
    """config.json made conditional: Keras' "Skipping ..." warnings, 10-36 lines of them, came before the error."""
    copy = str(tmp_path / "run")
    shutil.copytree(two_checkpoints, copy)
    with open(os.path.join(copy, "config.json")) as file_object:
        config = json.load(file_object)
    config["conditional"] = True
    with open(os.path.join(copy, "config.json"), "w") as file_object:
        json.dump(config, file_object)
    before = tree_digest(copy)
    result = run_script("train.py", "--resume", copy, "--epochs", "3")
    lines = after_start_up(result.stdout + "\n" + result.stderr)
    assert result.returncode != 0 and len(lines) == 1, "\n".join(lines[-40:])
    assert lines[0].startswith("error: ") and "weights do not fit the networks" in lines[0], lines[0]
    assert tree_digest(copy) == before


@pytest.mark.parametrize("difference, why", [(["--latent-dim", "8"], "do not fit"), (["--seed", "7"], "seed")])
def test_a_newer_checkpoint_of_another_run_is_set_aside_for_the_older_intact_one(two_checkpoints, real_archive,
                                                                                  tmp_path, difference, why):
    """Intact, but another run's: with latent size 8 refused with 30 lines, though the older checkpoint fits;
    with another seed (the same networks) silently resumed from."""
    other, copy = str(tmp_path / "other"), str(tmp_path / "run")
    options = dict(zip(TINY[::2], TINY[1::2]), **dict([difference]))
    result = run_script("train.py", "--data", real_archive, "--out", other, "--epochs", "2", "--steps-per-epoch", "1",
                        "--ema", "0.9", *[word for pair in options.items() for word in pair])
    assert result.returncode == 0, result.stderr[-1500:]
    shutil.copytree(two_checkpoints, copy)
    newest = os.path.join(copy, "checkpoints", "step-00000002")
    shutil.rmtree(newest)
    shutil.copytree(os.path.join(other, "checkpoints", "step-00000002"), newest)
    result = run_script("train.py", "--resume", copy, "--epochs", "3")
    lines = after_start_up(result.stdout + "\n" + result.stderr)
    assert result.returncode == 0, "\n".join(lines[-40:])
    assert lines[0].startswith("warning: set aside") and "step-00000002" in lines[0] and why in lines[0], lines
    assert lines[1].startswith("resuming ") and lines[1].endswith("step-00000001: epoch 1, step 1"), lines
    assert not any("Warning" in line or "Skipping" in line for line in lines), lines
    assert os.path.isdir(os.path.join(copy, "checkpoints", "damaged-step-00000002"))
    assert find_latest_checkpoint(copy)[1]["step"] == 3


def test_printed_commands_for_a_folder_named_like_an_option_work(real_archive, tmp_path):
    """`python samples.py -rf-rel` is read as options: a relative folder starting with '-' is printed as ./-rf-rel."""
    import train
    from machinery import runs

    resume = runs.resume_command("-rf-rel")
    assert resume == "python train.py --resume ./-rf-rel"
    assert train.parse_args(shlex.split(resume)[2:] + ["--epochs", "2"]).resume == "./-rf-rel"
    result = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), "--data", real_archive, "--out=-rf-rel",
                             "--epochs", "1", "--steps-per-epoch", "1", *TINY], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 0, result.stderr[-1500:]
    printed = result.stdout.split("Draw samples with: ")[1].strip()
    assert printed == "python samples.py ./-rf-rel"
    pasted = subprocess.run(printed.replace("python samples.py", f"{shlex.quote(sys.executable)} "
                                            f"{shlex.quote(os.path.join(ROOT, 'samples.py'))}", 1),
                            shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert pasted.returncode == 0, pasted.stderr[-1500:]
    assert os.path.isfile(tmp_path / "-rf-rel" / "samples.png")


@pytest.mark.parametrize("edit", [{"epoch_steps": -7}, {"history": [1, "x", None]},
                                  {"window_sums": {"d_loss_real": "abc"}}, {"curve": [["x", {}]]}],
                         ids=["negative steps", "history", "window sums", "curve"])
def test_an_edited_state_json_with_its_checksum_recomputed_is_not_used(two_checkpoints, tmp_path, edit):
    """A hostile pass recomputed the checksum after editing: tracebacks, and a hang on negative steps."""
    from machinery.checkpoint import STATE_CHECKSUM, state_checksum

    copy = str(tmp_path / "run")
    shutil.copytree(two_checkpoints, copy)
    path = os.path.join(copy, "checkpoints", "step-00000002", "state.json")
    with open(path) as file_object:
        state = json.load(file_object)
    state.update(edit)
    state[STATE_CHECKSUM] = state_checksum(state)
    with open(path, "w") as file_object:
        json.dump(state, file_object)
    warnings = []
    found_path, found_state, _ = find_latest_checkpoint(copy, report=warnings.append)
    assert os.path.basename(found_path) == "step-00000001" and found_state["step"] == 1
    assert len(warnings) == 1 and "step-00000002" in warnings[0], warnings
