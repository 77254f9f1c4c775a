"""--precision auto: the choice for each kind of machine (facts injected), what train.py prints, and resuming."""
import csv
import json
import math
import os

import pytest

from conftest import TINY, run_script
from machinery.devices import choose_precision, machine_facts

V100, A100, K80 = ("GPU", (7, 0), "Tesla V100"), ("GPU", (8, 0), "A100"), ("GPU", (3, 7), "Tesla K80")


@pytest.mark.parametrize("flags, accelerators, precision, reason", [
    ({"avx2", "avx512f", "avx512_bf16"}, [], "bfloat16", "this CPU has avx512_bf16"),
    ({"avx512f", "amx_bf16", "amx_tile"}, [], "bfloat16", "this CPU has amx_bf16"),
    ({"avx512_bf16", "amx_bf16"}, [], "bfloat16", "this CPU has avx512_bf16 and amx_bf16"),
    ({"avx2", "avx512f", "avx512_vnni"}, [], "float32", "neither avx512_bf16 nor amx_bf16"),
    (set(), [], "float32", "neither avx512_bf16 nor amx_bf16"),
    ({"avx512_bf16"}, [V100], "float16", "Tesla V100 (compute capability 7.0) has float16 tensor cores"),
    (set(), [A100, A100], "float16", "A100 (compute capability 8.0)"),
    ({"amx_bf16"}, [K80], "float32", "Tesla K80 (compute capability 3.7) has no float16 tensor cores"),
    (set(), [A100, K80], "float32", "Tesla K80"),  # the slowest GPU decides
    (set(), [("GPU", None, "unknown GPU")], "float32", "unknown GPU (compute capability 0.0)"),
    ({"avx2"}, [("TPU", None, "TPU")], "bfloat16", "TPU computes in bfloat16"),
])
def test_the_choice_for_each_machine(flags, accelerators, precision, reason):
    chosen, said = choose_precision(flags, accelerators)
    assert chosen == precision and reason in said


def test_machine_facts_read_the_cpu_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    flags, _ = machine_facts(str(cpuinfo))
    assert flags == {"fpu", "avx512f", "avx512_bf16"}
    assert machine_facts(str(tmp_path / "missing"))[0] == set()


def train(data, run_dir, *extra):
    result = run_script("train.py", "--data", data, "--out", run_dir, "--epochs", "1", "--steps-per-epoch", "2",
                        *TINY, *extra)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def recorded(run_dir):
    with open(os.path.join(run_dir, "config.json")) as file_object:
        return json.load(file_object)["precision"]


def test_train_prints_the_precision_and_why(real_archive, tmp_path):
    expected, reason = choose_precision(*machine_facts())  # whatever this machine is
    output = train(real_archive, str(tmp_path / "run"))
    assert f"precision {expected}: {reason} (--precision auto)" in output
    assert recorded(str(tmp_path / "run")) == expected  # the choice, not "auto", is what the run keeps


def test_resume_keeps_the_recorded_precision_and_a_typed_one_replaces_it(real_archive, tmp_path):
    auto, _ = choose_precision(*machine_facts())
    other = "float32" if auto == "bfloat16" else "bfloat16"  # what auto would not choose here
    run_dir = str(tmp_path / "run")
    train(real_archive, run_dir, "--precision", other)
    result = run_script("train.py", "--resume", run_dir, "--epochs", "2", "--data", real_archive)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"precision {other}: the run's config.json, as it started" in result.stdout and recorded(run_dir) == other
    # An explicit change (float32 <-> bfloat16) trains on, and becomes the run's precision.
    result = run_script("train.py", "--resume", run_dir, "--epochs", "3", "--data", real_archive, "--precision", auto)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"precision {auto}: --precision" in result.stdout and recorded(run_dir) == auto
    with open(os.path.join(run_dir, "metrics.csv")) as file_object:
        rows = list(csv.DictReader(file_object))
    assert len(rows) == 3 and all(math.isfinite(float(row[key])) for row in rows
                                  for key in ("d_loss_real", "d_loss_fake", "g_loss"))
