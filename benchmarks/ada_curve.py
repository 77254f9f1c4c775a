"""Adaptive augmentation at work: p and the discriminator's accuracy on real images, per epoch, from metrics.csv.

    python benchmarks/ada_curve.py runs/horses_ada runs/horses --out docs/ada_horses500.png

Each run is a train.py run folder. A run trained with --augment ada has the column augment_p, the epoch's
mean augmentation probability (augment.py); every run has d_acc_real, the share of real images D calls
real. ADA steers p so that r_t = E[sign(D(real))] stays near its target (0.6): with the default bce loss
r_t = 2 * d_acc_real - 1, so the target is d_acc_real = 0.8. A run without ADA shows how far D's
accuracy on the real images drifts when nothing holds it back (towards 1: D memorises the set).
"""
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from machinery.options import ArgumentParser, one_line  # noqa: E402  one line for a mistake
from machinery.output_files import OutputError, check_new_file, write_new_file  # noqa: E402
from machinery.safe_files import open_regular  # noqa: E402  no link, no FIFO


def read_rows(run_dir):
    """metrics.csv's rows as dicts of strings; a run without one is a one-line error."""
    path = os.path.join(run_dir, "metrics.csv")
    try:
        with open(open_regular(path), encoding="utf-8") as file_object:
            return list(csv.DictReader(file_object))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        sys.exit(one_line(f"error: {path}: unreadable ({getattr(error, 'strerror', None) or error})"))


def main():
    p = ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="train.py run folders (with and without --augment ada)")
    p.add_argument("--out", default="ada_curve.png", help="the PNG to write (default: ada_curve.png)")
    p.add_argument("--force", action="store_true", help="replace --out if it is an existing image (default: off)")
    args = p.parse_args()
    try:
        check_new_file("--out", args.out, args.force)  # before any work: never a user's file, never a link
    except OutputError as error:
        sys.exit(one_line(f"error: {error}"))
    import matplotlib
    matplotlib.use("Agg")  # draw to a file; no display needed
    import matplotlib.pyplot as plt

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    for run_dir in args.runs:
        rows, name = read_rows(run_dir), os.path.basename(os.path.normpath(run_dir))
        steps = [int(row["step"]) for row in rows]
        bottom.plot(steps, [float(row["d_acc_real"]) for row in rows], label=name, linewidth=0.8)
        if rows and rows[0].get("augment_p"):
            top.plot(steps, [float(row["augment_p"]) for row in rows], label=name, linewidth=0.8)
    top.set(ylabel="augmentation p (epoch mean)", title="--augment ada: p rises while D overfits")
    bottom.axhline(0.8, color="grey", linestyle=":", label="ADA's target (r_t 0.6 with bce)")
    bottom.set(xlabel="training step", ylabel="D's accuracy on real images", ylim=(0.4, 1.02))
    for panel in (top, bottom):
        panel.legend(loc="best")
    figure.tight_layout()
    try:
        write_new_file("--out", args.out, lambda temporary: figure.savefig(temporary, format="png", dpi=80),
                       args.force)
    except (OutputError, OSError) as error:
        sys.exit(one_line(f"error: {error}"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
