"""What the final hostile pass of issue 24 found: a link named with a trailing '/.' or '/', a user's
config.json taken for a run's, --strategy multi-worker without TF_CONFIG, range messages that did not
state the range, and --dry-run --resume refused for a flag the user never typed."""
import os
import shutil

import pytest

from conftest import ROOT, run_script
from machinery import cluster_wait, output_files, runs
from machinery.options import RunError, check_not_a_link
from test_bad_input import tree_digest


@pytest.fixture
def linked_folder(tmp_path):
    """A folder with a subfolder, and a symbolic link to it."""
    (tmp_path / "target" / "sub").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "target", target_is_directory=True)
    return str(tmp_path / "link")


# Each names the link's target through the link; os.path.islink is False for all of them.
SPELLINGS = ["{link}/.", "{link}/./", "{link}//", "{link}/sub/.."]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_run_folder_named_through_its_link_is_refused_however_spelled(linked_folder, spelling):
    """--resume LINK/. and --out LINK/. --overwrite trained and overwrote files in the link's target."""
    with pytest.raises(RunError, match="is a symbolic link; give the folder itself"):
        check_not_a_link("--resume", spelling.format(link=linked_folder))


@pytest.mark.parametrize("spelling", ["{link}/", "{link}/."])
def test_individual_images_are_never_written_through_a_linked_folder(linked_folder, spelling):
    """samples.py --individual LINK/ wrote sample_0000.png ... into the link's target."""
    with pytest.raises(output_files.OutputError, match="is a symbolic link"):
        output_files.check_new_images("--individual", spelling.format(link=linked_folder), 2, False)
    assert os.listdir(os.path.join(os.path.dirname(linked_folder), "target")) == ["sub"]


def test_samples_never_writes_its_grid_into_a_run_named_through_its_link(tmp_path):
    """samples.py LINK/. wrote samples.png into the linked run."""
    run = tmp_path / "run"
    shutil.copytree(os.path.join(ROOT, "pretrained", "cifar10"), run)
    (tmp_path / "link").symlink_to(run, target_is_directory=True)
    before = tree_digest(str(run))
    result = run_script("samples.py", f"{tmp_path / 'link'}/.", timeout=120)
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, lines[-8:]
    assert "is a symbolic link" in lines[0], lines[0]
    assert tree_digest(str(run)) == before


@pytest.mark.parametrize("text", ["my own settings", '{"theme": "dark"}', "[1, 2]"])
def test_overwrite_never_takes_a_persons_config_json_for_a_run(tmp_path, text):
    """--out DIR --overwrite replaced a folder's config.json that was no run's (any file of that name passed)."""
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(RunError, match="--overwrite refused.*config.json.*not a run's"):
        runs.check_new_run_dir(str(tmp_path), overwrite=True)
    assert (tmp_path / "config.json").read_text() == text


@pytest.mark.parametrize("tf_config", [None, "{}"])
def test_a_cluster_of_one_has_no_other_workers(tf_config):
    """--strategy multi-worker with no TF_CONFIG (or '{}', which check_tf_config accepts) was a KeyError traceback."""
    assert cluster_wait.other_workers(tf_config) == []


def test_multi_worker_strategy_reads_no_tf_config_it_may_lack():
    """devices.py read os.environ["TF_CONFIG"], which is absent on a machine training alone."""
    with open(os.path.join(ROOT, "machinery", "devices.py")) as file_object:
        assert 'os.environ["TF_CONFIG"]' not in file_object.read()


@pytest.mark.parametrize("flag, value, bound", [("--steps-per-epoch", "10000000000", "1000000000"),
                                                ("--keep", "10000000", "1000000"),
                                                ("--checkpoint-every", "10000000000", "1000000000"),
                                                ("--eval-every", "100000000", "10000000"),
                                                ("--warmup-steps", "10000000000", "1000000000")])
def test_a_value_above_its_range_is_told_the_range(tmp_path, flag, value, bound):
    """--steps-per-epoch 10000000000 said "must be at least 1"."""
    result = run_script("train.py", "--out", str(tmp_path / "run"), flag, value, timeout=60)
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, lines[-8:]
    assert lines[0].startswith(f"error: {flag} {value}: must be from ") and lines[0].endswith(f"to {bound}"), lines[0]
    assert not (tmp_path / "run").exists()


def test_dry_run_with_resume_names_resume(tmp_path):
    """--dry-run --resume RUN said '--batch-size 32 differs from the run's 64', a flag the user never typed."""
    run = tmp_path / "run"
    shutil.copytree(os.path.join(ROOT, "pretrained", "cifar10"), run)
    before = tree_digest(str(run))
    result = run_script("train.py", "--dry-run", "--resume", str(run), timeout=60)
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, lines[-8:]
    assert lines[0].startswith("error: --dry-run: not with --resume"), lines[0]
    assert tree_digest(str(run)) == before


def test_a_run_folder_whose_name_is_not_utf8_is_refused_before_anything_is_written(real_archive, tmp_path):
    """--out 'r\\xff' (a Latin-1 name) wrote config.json, then TensorFlow's event writer failed with a traceback."""
    run = os.path.join(str(tmp_path), "r\udcff")  # the byte 0xff, as Python carries a name that is not UTF-8
    result = run_script("train.py", "--data", real_archive, "--out", run, "--epochs", "1", "--steps-per-epoch", "1",
                        "--width", "0.125", "--latent-dim", "16", "--batch-size", "16", timeout=300,
                        errors="backslashreplace")  # its output may hold the name's byte
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, lines[-8:]
    assert lines[0].startswith("error: --out ") and "not valid UTF-8" in lines[0], lines[0]
    assert os.listdir(tmp_path) == []


MOBILENET = os.path.join(ROOT, "..", "shared", "models", "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite")


@pytest.mark.skipif(not os.path.exists(MOBILENET), reason="needs ../shared/models' .tflite feature network")
def test_quality_refuses_too_few_images_for_the_features_before_training(real_archive, tmp_path):
    """benchmarks/quality.py --n 10 with 1024-d features trained every configuration, then evaluate.py refused."""
    out = tmp_path / "benchmark"
    result = run_script(os.path.join("benchmarks", "quality.py"), "--data", real_archive, "--features", MOBILENET,
                        "--n", "10", "--steps", "1", "--out", str(out), timeout=300)
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, lines[-8:]
    assert lines[0] == ("error: --n 10: 10 images are too few for a full-rank 1024-d covariance: "
                        "use at least 1025"), lines[0]
    assert not out.exists()


@pytest.mark.skipif(not os.path.exists(MOBILENET), reason="needs ../shared/models' .tflite feature network")
def test_train_refuses_too_few_eval_samples_before_tensorflow_loads(real_archive, tmp_path):
    """train.py --eval-every 1 --eval-samples 10 with 1024-d features loaded TensorFlow before refusing."""
    result = run_script("train.py", "--data", real_archive, "--out", str(tmp_path / "run"), "--eval-every", "1",
                        "--eval-samples", "10", "--features", MOBILENET, timeout=300)
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, lines[-8:]  # no TensorFlow start-up lines either
    assert lines[0].startswith("error: --eval-samples 10: 10 images are too few"), lines[0]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("script", ["samples.py", "evaluate.py"])
def test_ctrl_c_is_one_line_not_a_traceback(real_archive, tmp_path, script):
    """Ctrl-C while samples.py or evaluate.py loaded TensorFlow printed Python's KeyboardInterrupt traceback."""
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    shutil.copytree(os.path.join(ROOT, "pretrained", "cifar10"), run)
    if script == "evaluate.py" and not os.path.exists(MOBILENET):
        pytest.skip("needs ../shared/models' .tflite feature network")
    arguments = (["--out", str(tmp_path / "grid.png")] if script == "samples.py" else
                 ["--data", real_archive, "--features", MOBILENET, "--n", "1100", "--cache-dir", str(tmp_path)])
    process = subprocess.Popen([sys.executable, script, str(run), *arguments], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(2)  # TensorFlow takes longer than this to load
    process.send_signal(signal.SIGINT)
    output = "".join(process.communicate(timeout=120))
    assert process.returncode == 130 and "Traceback" not in output, output[-1500:]
    assert output.strip().splitlines()[-1] == "stopped (Ctrl-C)", output[-500:]


def test_eval_every_works_with_the_default_features_and_samples(monkeypatch):
    """--eval-every 1 alone was refused: the default 2,000 samples are too few for the default FID
    network's 2,048 features. The default is now 2,000, or one more than the features when that is more."""
    import train
    from scoring import features

    # The FID network's file is looked up (downloaded once, or found converted in the cache): neither can
    # happen offline on a fresh machine, so the lookup is recorded instead; its size is known without it.
    looked_up = []
    monkeypatch.setattr(features, "source_file", lambda spec: looked_up.append(spec))
    args = train.parse_args(["--eval-every", "1"])
    runs.check_paths(args)
    assert looked_up == ["inception"]
    assert args.eval_samples == 2049
    if os.path.exists(MOBILENET):  # 1,024 features: 2,000 are enough
        args = train.parse_args(["--eval-every", "1", "--features", MOBILENET])
        runs.check_paths(args)
        assert args.eval_samples == runs.DEFAULT_EVAL_SAMPLES
    args = train.parse_args(["--eval-every", "1", "--eval-samples", "3000"])
    runs.check_paths(args)
    assert args.eval_samples == 3000  # typed: kept
