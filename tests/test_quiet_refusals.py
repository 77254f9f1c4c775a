"""Weights that samples.py and evaluate.py cannot use are refused in one line, without Keras' warnings
before it, and without writing anything (from the last hostile pass)."""
import json
import os
import shutil

import numpy as np
import pytest

from conftest import run_script
from test_bad_input import finished_run, tree_digest  # noqa: F401  finished_run is a fixture
from test_damaged_runs import after_start_up


@pytest.fixture
def copy_of_run(finished_run, tmp_path):  # noqa: F811
    copy = str(tmp_path / "run")
    shutil.copytree(finished_run, copy)
    return copy


def one_line(script, arguments, message, watched):
    before = tree_digest(watched)
    result = run_script(script, *arguments)
    lines = after_start_up(result.stdout + "\n" + result.stderr)
    assert result.returncode != 0 and len(lines) == 1, "\n".join(lines[-20:])
    assert lines[0].startswith("error: ") and message in lines[0], lines[0]
    assert tree_digest(watched) == before


def test_weights_that_do_not_fit_config_json_are_one_line(copy_of_run, tiny_features):
    """config.json made conditional: samples.py and evaluate.py printed 10-200 "Skipping ..." lines first."""
    path = os.path.join(copy_of_run, "config.json")
    with open(path) as file_object:
        config = json.load(file_object)
    with open(path, "w") as file_object:
        json.dump(dict(config, conditional=True), file_object)
    message = "does not match the generator described by config.json"
    one_line("samples.py", [copy_of_run], message, copy_of_run)
    one_line("evaluate.py", [copy_of_run, "--features", tiny_features, "--n", "20"], message, copy_of_run)


def test_inception_weights_of_another_model_are_one_line(copy_of_run, real_archive):
    """An .h5 of another network as --inception-weights printed ~200 lines of Keras warnings."""
    wrong = os.path.join(copy_of_run, "discriminator.weights.h5")
    one_line("evaluate.py", [copy_of_run, "--features", "keras-inception", "--inception-weights", wrong,
                             "--n", "2100", "--data", real_archive], f"--inception-weights {wrong}", copy_of_run)


def test_a_generator_whose_weights_are_not_finite_is_refused(copy_of_run, tmp_path):
    """NaN weights gave two numpy RuntimeWarnings and a black grid."""
    import h5py

    for name in ("generator.weights.h5", "generator.ema.weights.h5"):
        with h5py.File(os.path.join(copy_of_run, name), "r+") as file_object:
            file_object.visititems(lambda key, item: item.__setitem__(..., np.nan)
                                   if isinstance(item, h5py.Dataset) and item.dtype.kind == "f" else None)
    for extra in ([], ["--no-ema"]):
        one_line("samples.py", [copy_of_run, *extra], "weights are not finite", copy_of_run)
    assert not os.path.exists(os.path.join(copy_of_run, "samples.png"))


def test_real_test_n_beyond_the_test_split_is_refused_before_tensorflow_loads(real_archive, tiny_features,
                                                                              tmp_path):
    """It silently scored fewer images than asked (1,017 in the mini archive), under the cache key of n."""
    from defDATA import load_cifar10

    size = len(load_cifar10(real_archive, split="test")[0])
    result = run_script("evaluate.py", "--real-test", "--n", str(size + 1), "--data", real_archive,
                        "--features", tiny_features, "--cache-dir", str(tmp_path))
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, lines[-10:]
    assert lines[0].startswith(f"error: --n {size + 1}: ") and f"only {size} test images" in lines[0], lines[0]
