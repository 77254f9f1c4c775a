"""Quality benchmark: train for a fixed wall-clock budget, then score the generator.

    python benchmarks/quality.py --minutes 30 --data ~/.cache/cifar10/cifar-10-python.tar.gz \\
        --features ../shared/models/mobilenet_v1_1.0_224_quant_embedding_extractor.tflite

It runs `train.py` (extra options through --train-args), stops it with Ctrl-C
(SIGINT) when the budget is spent, which makes train.py save everything, then
runs `evaluate.py` twice in the same invocation: on the trained generator, and
on the real test images (the floor, the best score any generator could get).
It prints both, their ratio, the iterations done and the sample grid's path.
Compare runs of this benchmark with each other, measured the same way.
"""
import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def script(name, *arguments):
    return [sys.executable, os.path.join(ROOT, name), *arguments]


def train_for(minutes, run_dir, data, train_args):
    """Run train.py for `minutes` of wall-clock time, then interrupt it cleanly."""
    command = script("train.py", "--out", run_dir, "--epochs", "100000", *(["--data", data] if data else []),
                     *shlex.split(train_args))
    print("$ " + shlex.join(command), flush=True)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    started = time.time()
    try:
        process.wait(timeout=minutes * 60)
        sys.exit(f"error: train.py stopped early (exit {process.returncode}):\n{process.stderr.read()[-2000:]}")
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)  # train.py finishes its step, saves, exits 0
        process.wait()
    with open(os.path.join(run_dir, "checkpoints", sorted(os.listdir(os.path.join(run_dir, "checkpoints")))[-1],
                           "state.json")) as file_object:
        steps = json.load(file_object)["step"]
    return steps, time.time() - started


def score(run_dir, options):
    """Run evaluate.py on run_dir and return the entry it appended to its eval.json."""
    result = subprocess.run(script("evaluate.py", run_dir, *options), capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"error: evaluate.py failed: {result.stderr.strip().splitlines()[-1]}")
    print(result.stdout.strip(), flush=True)
    with open(os.path.join(run_dir, "eval.json")) as file_object:
        return json.load(file_object)[-1]


def main():
    p = argparse.ArgumentParser(description="Train for a fixed time budget, then report the Fréchet distance "
                                "next to the real-data floor.")
    p.add_argument("--minutes", type=float, default=30, help="training budget in wall-clock minutes (default: 30)")
    p.add_argument("--data", help="CIFAR-10 archive (default: download through Keras)")
    p.add_argument("--features", default="inception", help="feature network for evaluate.py (default: inception)")
    p.add_argument("--n", type=int, default=10000, help="images per score (default: 10000)")
    p.add_argument("--train-args", default="", help="extra train.py options, quoted, e.g. \"--flip --lr 1e-4\"")
    p.add_argument("--out", default=os.path.join("runs", "quality-" + time.strftime("%Y%m%d-%H%M%S")),
                   help="run directory for the benchmark (default: runs/quality-DATE-TIME)")
    args = p.parse_args()
    steps, seconds = train_for(args.minutes, args.out, args.data, args.train_args)
    common = ["--features", args.features, "--n", str(args.n)] + (["--data", args.data] if args.data else [])
    generated = score(args.out, common)
    floor = score(args.out, ["--real-test", *common])
    grid = os.path.join(args.out, "samples.png")
    subprocess.run(script("samples.py", args.out, "--out", grid), check=True, capture_output=True)
    print(f"\nquality benchmark ({args.minutes:g} min of training, {steps} iterations, {steps / seconds:.2f} it/s)")
    print(f"  Fréchet distance [{generated['features']}, N={generated['n']} vs {generated['reference']}]: "
          f"{generated['fd']:.2f}")
    print(f"  real-data floor (test images, same measure): {floor['fd']:.2f}   ratio: {generated['fd'] / floor['fd']:.1f}x")
    print(f"  grid: {grid}")


if __name__ == "__main__":
    main()
