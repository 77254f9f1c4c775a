"""Quality benchmark: train configurations for the same wall-clock budget (or steps), then score each.

    python benchmarks/quality.py --minutes 30 --data ~/.cache/cifar10/cifar-10-python.tar.gz \\
        --features ../shared/models/mobilenet_v1_1.0_224_quant_embedding_extractor.tflite
    python benchmarks/quality.py --steps 3000 --compare "--precision float32 --seed 0" \\
        --compare "--precision float32 --seed 1" --compare "--precision bfloat16 --seed 0" \\
        --compare "--precision bfloat16 --seed 1" --data ... --features ...

With `--budgets 5,10,20` each configuration is also scored at those earlier
budgets: it trains to 5 minutes, is stopped and scored, resumes (exactly, as
`--resume` does) to 10 minutes, and so on, so the table shows how fast each
reaches a given distance, not only where it ends. The clock runs only while
it trains (each resume's start-up included), never while a score is computed.

With `--steps N` every configuration trains exactly N steps instead (epochs of
equal length, cut to divide N), so a faster step cannot buy more updates: the
check that a faster precision learns as much per step.

By default it compares the `classic` preset with the default preset; give
`--compare` once per configuration (train.py options, quoted) to compare
others, e.g. an ablation: --compare "--preset classic" --compare "--preset classic --ema 0.999".
Each configuration runs `train.py` alone on the machine for `--minutes`, then
is stopped with Ctrl-C (SIGINT), which makes train.py save everything. After
all trainings, `evaluate.py` scores each generator, and the real test images
(the floor: the best score any generator could get), in the same invocation.
It prints a table: configuration, iterations, it/s, Fréchet distance, its
ratio to the first configuration's, and the grids' paths.
"""
import argparse
import json
import os
import shlex
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from defDATA import DataError, load_cifar10  # noqa: E402  reads the data without TensorFlow
from machinery.numbers import real_number  # noqa: E402
from machinery.options import ArgumentParser, RunError, check_writable_folder, one_line  # noqa: E402
from scoring.class_scores import check_classifier_file  # noqa: E402  these three read no TensorFlow
from scoring.features import check_feature_spec  # noqa: E402
from scoring.statistics import EvalError, check_enough  # noqa: E402  no TensorFlow either
from run_scripts import Signals, last_line, run_script, script  # noqa: E402  benchmarks/run_scripts.py


# train.py needs tens of seconds to start (TensorFlow, tracing the steps) before its first step,
# after which Ctrl-C makes it checkpoint: a shorter budget or segment would train nothing.
MIN_MINUTES = 1
MAX_STEPS, MAX_MINUTES = 10**7, 10**5  # beyond these a benchmark is a mistake (10**5 minutes: 69 days)
# The train.py flags quality.py sets itself for every configuration, which --compare must leave alone.
OWN_FLAGS = ("out", "resume", "overwrite", "data", "epochs", "steps_per_epoch", "dry_run")


def last_step(run_dir):
    """The step of run_dir's newest checkpoint, or None when it has none yet."""
    folder = os.path.join(run_dir, "checkpoints")
    names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    if not names:
        return None
    with open(os.path.join(folder, names[-1], "state.json")) as file_object:
        return json.load(file_object)["step"]


def train_for(minutes, run_dir, data, train_args, resume=False):
    """Run train.py (or resume it) for `minutes` of wall-clock time, then interrupt it cleanly."""
    where = ["--resume", run_dir] if resume else ["--out", run_dir, *shlex.split(train_args)]
    command = script("train.py", *where, "--epochs", "100000", *(["--data", data] if data else []))
    print("$ " + shlex.join(command), flush=True)
    started = time.time()
    code, _, errors, timed_out = run_script(command, minutes * 60)
    if not timed_out:
        sys.exit(f"error: train.py stopped early (exit {code}): {last_line(errors)}")
    step = last_step(run_dir)
    if step is None:
        sys.exit(f"error: train.py wrote no checkpoint in its {minutes:g} minutes (it was still starting); "
                 f"give longer budgets")
    return step, time.time() - started


def train_steps(steps, run_dir, data, train_args, images):
    """Run train.py for exactly `steps` steps: E epochs of steps / E each, E the fewest that fit the data."""
    full_epoch = images // 32  # the default batch takes 32 real images a step; a smaller epoch always fits
    epochs = next(e for e in range(-(-steps // full_epoch), steps + 1) if steps % e == 0)
    command = script("train.py", "--out", run_dir, "--epochs", str(epochs), "--steps-per-epoch",
                     str(steps // epochs), *(["--data", data] if data else []), *shlex.split(train_args))
    print("$ " + shlex.join(command), flush=True)
    started = time.time()
    code, _, errors, _ = run_script(command)
    if code:
        sys.exit(f"error: train.py failed (exit {code}): {last_line(errors)}")
    if last_step(run_dir) != steps:
        sys.exit(f"error: {run_dir} trained {last_step(run_dir)} steps, not {steps} (too little data for its batch)")
    return steps, time.time() - started


def score(run_dir, options, classifier=None):
    """Run evaluate.py on run_dir and return the entry it appended to its eval.json.
    A conditional run is also scored for class agreement when a classifier is given."""
    with open(os.path.join(run_dir, "config.json")) as file_object:
        conditional = json.load(file_object).get("conditional", False)
    if classifier and conditional and "--real-test" not in options:
        options = [*options, "--classifier", classifier]
    code, output, errors, _ = run_script(script("evaluate.py", run_dir, *options))
    if code:
        sys.exit(f"error: evaluate.py failed (exit {code}) "
                 + (f"and said: {last_line(errors)}" if last_line(errors) else "and said nothing"))
    print(output.strip(), flush=True)
    with open(os.path.join(run_dir, "eval.json")) as file_object:
        return json.load(file_object)[-1]


def parse_args():
    p = ArgumentParser(description="Train configurations for a fixed time budget each, then report "
                                "their Fréchet distances next to the real-data floor.")
    p.add_argument("--minutes", type=float, default=30, help="training budget per configuration, in wall-clock "
                   f"minutes, at least {MIN_MINUTES} (default: 30)")
    p.add_argument("--budgets", default="", help="comma-separated earlier budgets in minutes at which each "
                   f"configuration is also scored, e.g. 5,10,20, each at least {MIN_MINUTES} minute after the one "
                   "before (default: none, only the end)")
    p.add_argument("--steps", type=int, help="train every configuration for exactly this many steps instead of "
                   "--minutes (default: off; a batch of 64 or less each step, e.g. the default preset's)")
    p.add_argument("--data", help="CIFAR-10 archive (default: the official archive, downloaded once)")
    p.add_argument("--features", default="inception", help="feature network for evaluate.py (default: inception)")
    p.add_argument("--n", type=int, default=10000, help="images per score (default: 10000)")
    p.add_argument("--classifier", help="a .keras CIFAR-10 classifier (benchmarks/train_classifier.py): conditional "
                   "runs are also scored for class agreement (default: none)")
    p.add_argument("--compare", action="append", metavar="TRAIN_ARGS",
                   help="one configuration as train.py options, quoted; repeat it; the first is the baseline "
                   "of the ratios (default: \"--preset classic\" and \"\", the default preset)")
    p.add_argument("--out", default=os.path.join("runs", "quality-" + time.strftime("%Y%m%d-%H%M%S")),
                   help="folder for the benchmark's run directories (default: runs/quality-DATE-TIME)")
    args = p.parse_args()
    check_ranges(p, args)
    for train_args in args.compare or []:
        check_configuration(p, train_args)
    return args


def check_ranges(p, args):
    """Each number in its range, before anything trains (a benchmark takes hours)."""
    if not MIN_MINUTES <= args.minutes <= MAX_MINUTES:
        p.error(f"--minutes {args.minutes:g}: must be from {MIN_MINUTES} to {MAX_MINUTES} "
                "(train.py needs tens of seconds to start before it trains and can checkpoint)")
    if args.steps is not None and not 1 <= args.steps <= MAX_STEPS:
        p.error(f"--steps {args.steps}: must be at least 1 (and at most {MAX_STEPS})")
    if not 2 <= args.n <= 10**6:  # evaluate.py's range: refused now, not after the training
        p.error(f"--n {args.n}: must be from 2 to 1000000")
    try:
        args.budget_list = sorted({real_number(b.strip()) for b in args.budgets.split(",") if b.strip()})
    except argparse.ArgumentTypeError:
        p.error(f"--budgets {args.budgets}: must be minutes separated by commas, e.g. 5,10,20")
    if args.budget_list and args.steps is not None:
        p.error("--budgets: only with --minutes, not --steps")
    ends = [0] + args.budget_list + [args.minutes]  # each segment trains from a fresh start of train.py
    if any(after - before < MIN_MINUTES for before, after in zip(ends, ends[1:])):
        p.error(f"--budgets {args.budgets}: each must be at least {MIN_MINUTES} minute after the one before, "
                f"and --minutes {args.minutes:g} as much after the last (each resumes train.py, which needs "
                "tens of seconds to start)")


def check_configuration(p, train_args):
    """A --compare value must be train.py options that train.py accepts, none of those quality.py sets."""
    import train  # for its parser, which loads no TensorFlow; imported here, as only --compare needs it
    from machinery.options import check_new_config, check_numbers
    from presets import OptionError, run_config

    try:
        tokens = shlex.split(train_args)
    except ValueError as error:  # unbalanced quotes
        p.error(f"--compare {train_args!r}: {error}")
    try:
        given, defaults = train.parse_args(tokens), train.parse_args([])
        check_numbers(given)  # train.py's ranges, and --strategy with TF_CONFIG
        check_new_config(run_config(given), given)  # the run itself: the preset, options that clash, the memory
    except SystemExit as error:  # train.py's parser: "error: ..."
        p.error(f"--compare {train_args!r}: {str(error.code).removeprefix('error: ')}")
    except (RunError, OptionError) as error:
        p.error(f"--compare {train_args!r}: {error}")
    for flag in OWN_FLAGS:
        if getattr(given, flag) != getattr(defaults, flag):
            p.error(f"--compare {train_args!r}: sets --{flag.replace('_', '-')}, which quality.py sets itself")


def check_paths(args):
    """--out and --classifier, before anything trains; exits with one line."""
    try:
        if args.out == "":
            raise RunError("--out: empty path")
        if os.path.islink(args.out):
            raise RunError(f"--out {args.out}: is a symbolic link; nothing is written through one")
        if os.path.exists(args.out):
            raise RunError(f"--out {args.out}: already exists; pick a new folder")
        existing = os.path.dirname(os.path.abspath(args.out))  # train.py creates the folders missing below it
        while not os.path.isdir(existing):
            existing = os.path.dirname(existing)
        check_writable_folder("--out", existing)
        if args.classifier:
            check_classifier_file(args.classifier)
    except (RunError, ValueError) as error:
        sys.exit(f"error: {one_line(error)}")


def main():
    args = parse_args()
    Signals.catch()  # Ctrl-C and SIGTERM are passed on to the script running (benchmarks/run_scripts.py)
    configurations = args.compare or ["--preset classic", ""]
    check_paths(args)
    try:  # the data, so that a bad --data is one line now, not a traceback or a failed run later
        images = len(load_cifar10(args.data)[0])
        tests = len(load_cifar10(args.data, split="test")[0])  # evaluate.py --real-test (the floor) needs --n of them
        if args.n > tests:
            raise ValueError(f"--n {args.n}: the test split holds only {tests} test images; use --n {tests} or less")
        feature_size = check_feature_spec(args.features)  # last: for 'inception' it may download its weights
        if feature_size:  # known now for the FID network and .tflite files: evaluate.py's check, before training
            check_enough(args.n, feature_size)
    except (DataError, ValueError, EvalError) as error:
        sys.exit(f"error: {one_line(error)}")
    common = ["--features", args.features, "--n", str(args.n)] + (["--data", args.data] if args.data else [])
    budgets = args.budget_list + [args.minutes]
    runs = []
    for index, train_args in enumerate(configurations):
        run_dir = os.path.join(args.out, f"run{index}")
        run = {"train_args": train_args or "(default preset)", "dir": run_dir, "budgets": []}
        if args.steps:
            steps, seconds = train_steps(args.steps, run_dir, args.data, train_args, images)
        else:
            seconds = 0.0
            for budget in budgets:  # train to each budget, then score there, the clock stopped
                minutes = max(budget - seconds / 60, 0.05)  # a resume's start-up may overshoot a close budget
                steps, segment = train_for(minutes, run_dir, args.data, train_args, resume=seconds > 0)
                seconds += segment
                if budget < args.minutes:
                    entry = score(run_dir, common, args.classifier)
                    run["budgets"].append({"minutes": budget, "steps": steps, "fd": entry["fd"]})
        run.update(steps=steps, it_per_s=steps / seconds)
        runs.append(run)
    for run in runs:  # the end points are scored after all training, so no score competes with a run for the CPU
        entry = score(run["dir"], common, args.classifier)
        run["fd"], run["class_agreement"] = entry["fd"], entry.get("class_agreement")
        run["grid"] = os.path.join(run["dir"], "samples.png")
        code, _, errors, _ = run_script(script("samples.py", run["dir"], "--out", run["grid"]))
        if code:
            sys.exit(f"error: samples.py failed (exit {code}): {last_line(errors)}")
    floor = score(runs[0]["dir"], ["--real-test", *common])
    budget = f"{args.steps} steps" if args.steps else f"{args.minutes:g} min"
    print(f"\nquality benchmark: {budget} of training each; Fréchet distance [{floor['features']}, "
          f"N={floor['n']} vs {floor['reference']}]")
    print("(it/s here divides iterations by the whole budget, start-up included)")
    print(f"{'configuration':<50} {'iterations':>10} {'it/s':>6} {'FD':>8} {'vs first':>8} {'agreement':>9}  grid")
    for run in runs:
        agreement = "" if run["class_agreement"] is None else f"{100 * run['class_agreement']:.1f}%"
        print(f"{run['train_args']:<50} {run['steps']:>10} {run['it_per_s']:>6.2f} {run['fd']:>8.2f} "
              f"{run['fd'] / runs[0]['fd']:>8.3f} {agreement:>9}  {run['grid']}")
    print(f"{'real-data floor (CIFAR-10 test images)':<50} {'':>10} {'':>6} {floor['fd']:>8.2f}")
    if budgets[:-1] and not args.steps:
        print("\ntime to quality: Fréchet distance (iterations) at each budget")
        print(f"{'configuration':<50} " + " ".join(f"{f'{b:g} min':>16}" for b in budgets))
        for run in runs:
            points = run["budgets"] + [{"fd": run["fd"], "steps": run["steps"]}]
            print(f"{run['train_args']:<50} " + " ".join(f"{p['fd']:>8.2f} ({p['steps']:>5})" for p in points))
    with open(os.path.join(args.out, "results.json"), "w") as file_object:
        json.dump({"minutes": None if args.steps else args.minutes, "budgets": budgets[:-1], "steps": args.steps,
                   "n": args.n, "runs": runs,
                   "floor": floor["fd"]}, file_object, indent=1)


if __name__ == "__main__":
    main()
