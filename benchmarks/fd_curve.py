"""A run's Fréchet distance against its training time, from metrics.csv (train.py --eval-every).

    python benchmarks/fd_curve.py runs/cifar10 --out docs/fd_curve.png

Each epoch's row holds its training seconds (scoring excluded) and, on
scored epochs, the Fréchet distance; this sums the seconds into hours of
training and plots the distance over them, and prints the same as a table.
Where the curve flattens, more time buys little at this network size.
"""
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from machinery.options import ArgumentParser  # noqa: E402  one line for a mistake


def read_curve(run_dir):
    """[(hours of training, step, Fréchet distance)] of the scored epochs of a run."""
    points, seconds = [], 0.0
    with open(os.path.join(run_dir, "metrics.csv"), encoding="utf-8") as file_object:
        for row in csv.DictReader(file_object):
            seconds += float(row["seconds"])
            if row.get("fd"):
                points.append((seconds / 3600, int(row["step"]), float(row["fd"])))
    return points


def main():
    p = ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", help="a run directory trained with --eval-every")
    p.add_argument("--out", help="PNG to write (default: RUN_DIR/fd_curve.png)")
    p.add_argument("--title", default="", help="title of the plot (default: none)")
    args = p.parse_args()
    points = read_curve(args.run_dir)
    if not points:
        sys.exit(f"error: {args.run_dir}/metrics.csv has no Fréchet distances; train with --eval-every")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours, steps, distances = zip(*points)
    figure, axes = plt.subplots(figsize=(6, 3.5), dpi=100)
    axes.plot(hours, distances, marker="o", markersize=3)
    axes.set_xlabel("hours of training (scoring excluded)")
    axes.set_ylabel("Fréchet distance (lower is better)")
    axes.set_title(args.title, fontsize=10)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    out = args.out or os.path.join(args.run_dir, "fd_curve.png")
    figure.savefig(out)
    print(f"{'hours':>6} {'step':>8} {'FD':>8}")
    for point in points:
        print(f"{point[0]:>6.2f} {point[1]:>8} {point[2]:>8.2f}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
