"""Measure a trained GAN: Fréchet distance (FID), KID, Inception Score, precision and recall.

    python evaluate.py RUN_DIR                                   # FID: the papers' network (downloaded once)
    python evaluate.py RUN_DIR --features inception-2015-12-05.pt  # FID offline, from a copy of its file
    python evaluate.py RUN_DIR --features ../shared/models/mobilenet_v1_1.0_224_quant_embedding_extractor.tflite
    python evaluate.py --real-test --features FILE               # the floor: real test images vs train

Every score compares *features* of images, taken from a network trained on
ImageNet, rather than pixels:
  * Fréchet distance: fit a Gaussian (mean, covariance) to the features of the
    generated and of the real images and measure the distance between the two
    Gaussians. 0 = same statistics; lower is better. With `--features
    inception` (TensorFlow's 2015-12-05 Inception, scoring/fid_inception.py)
    it is the FID of the literature; with any other network it is not.
  * KID: the squared maximum mean discrepancy between the two feature sets with
    a cubic polynomial kernel, unbiased, averaged over random subsets. Unlike
    FID it has no bias that depends on the number of samples.
  * Inception Score: how confidently and how diversely a classifier labels the
    generated images (needs class probabilities: only with keras-inception).
  * Precision, recall, density and coverage: whether the generated images lie
    where real ones do (realism) and the real ones where generated ones do
    (variety), from each set's k-nearest-neighbour balls (scoring/scores.py explains).
    Each needs its real-data value beside it: `--real-test`.

Features are processed in batches: statistics accumulate in float64 moments,
and only a bounded random subset of features is kept for KID and the four
manifold scores, so 50,000
samples need no more memory than 10,000. The real images' statistics are
cached per (data, feature network, N, image size). A run trained at --image-size 64 or 128 is scored
against real images upscaled as train.py upscaled them (no generator can beat the detail they lack).
The formulas live in scoring/scores.py, the feature networks in scoring/features.py, the streaming of
images through them in scoring/statistics.py.
"""
import math
import sys
import time

import numpy as np

import machinery.tensorflow_settings  # noqa: F401  first: before TensorFlow loads
from machinery.progress import append_result, read_results
from machinery.reference_cache import check_cache_dir
from defDATA import DataError, class_names, data_name, load_data, trained_classes
from scoring.class_scores import check_classifier_file, class_scores, load_classifier, report_classes
from scoring.features import (DEFAULT_FEATURES, FEATURE_BATCH, FEATURE_CHOICES, check_feature_spec,
                              load_feature_network)
from scoring.scores import (IS_SPLITS, KID_KEEP, NEIGHBOURS, frechet_distance, kernel_inception_distance,
                            precision_recall_density_coverage)
from scoring.statistics import (DEFAULT_CACHE, EvalError, check_enough, feature_statistics, generated_batches,
                                real_statistics, statistics_table)
from machinery.options import ArgumentParser, RunError, check_not_a_link, check_writable_folder, one_line
from samples import SampleError, build_generator, check_run_dir

def score(scored, reference, network, what, reference_name, image_size):
    """The result entry: every number with N, the reference and the features beside it.
    `scored` and `reference` are statistics tables (statistics_table), of image_size x image_size images;
    `reference_name` names the real images (defDATA.data_name)."""
    fd = frechet_distance(scored["mean"], scored["covariance"], reference["mean"], reference["covariance"])
    kid = kernel_inception_distance(scored["kid_features"], reference["kid_features"])
    entry = {"time": time.strftime("%Y-%m-%d %H:%M:%S"), "images": what, "n": int(scored["count"]),
             "reference": f"{reference_name}, {int(reference['count'])} images", "features": network.name,
             "image_size": image_size,
             "fd": round(fd, 4), "kid_mean": kid[0], "kid_std": kid[1], "is_mean": None, "is_std": None}
    if "inception_score" in scored:
        entry["is_mean"], entry["is_std"] = (float(value) for value in scored["inception_score"])
    # On the same kept features as KID (up to scores.KID_KEEP per set), in blocks.
    manifold = precision_recall_density_coverage(reference["kid_features"], scored["kid_features"])
    entry.update({name: round(value, 4) for name, value in manifold.items()})
    return entry


def report(entry):
    beside = f"[{entry['images']}, N={entry['n']} vs {entry['reference']}, features: {entry['features']}]"
    print(f"Fréchet distance {entry['fd']:.2f} {beside}")
    print(f"KID {entry['kid_mean']:.5f} ± {entry['kid_std']:.5f} {beside}")
    if entry["is_mean"] is not None:
        print(f"Inception Score {entry['is_mean']:.3f} ± {entry['is_std']:.3f} ({IS_SPLITS} splits) {beside}")
    print(f"precision {entry['precision']:.3f}, recall {entry['recall']:.3f}, density {entry['density']:.3f}, "
          f"coverage {entry['coverage']:.3f} (k={NEIGHBOURS}; {min(entry['n'], KID_KEEP)} of each set) {beside}")
    if "class_kid" in entry:
        report_classes(entry, beside)


def parse_args(argv=None):
    p = ArgumentParser(description="Score a trained generator (or the real test images) "
                                "with Fréchet distance, KID and Inception Score.")
    p.add_argument("run_dir", nargs="?", help="a run directory written by train.py (not needed with --real-test)")
    p.add_argument("--n", type=int, default=10000, help="generated images to score, and real reference images "
                   "(default: 10000, the usual FID size for CIFAR-10)")
    p.add_argument("--data", help="CIFAR-10 archive or folder for the reference (default: the run's --data, "
                   "else the official archive, downloaded once into ~/.keras/datasets)")
    p.add_argument("--features", default=DEFAULT_FEATURES, help=f"{FEATURE_CHOICES} (default: {DEFAULT_FEATURES})")
    p.add_argument("--inception-weights", metavar="FILE", help="with --features keras-inception: a local "
                   "copy of its weights, for offline machines (default: none, downloaded once into ~/.keras/models)")
    p.add_argument("--batch-size", type=int, default=FEATURE_BATCH,
                   help=f"images per forward pass (default: {FEATURE_BATCH})")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated noise (default: 0)")
    p.add_argument("--real-test", action="store_true", help="score the real test images instead of a generator: "
                   "the floor that every score should be read against; with a RUN_DIR, at that run's --image-size "
                   "(default: off)")
    p.add_argument("--no-ema", action="store_true", help="score the latest generator weights even when the run "
                   "kept a moving average (--ema), to compare the two (default: off)")
    p.add_argument("--classifier", metavar="FILE.keras", help="conditional runs: a CIFAR-10 classifier for class "
                   "agreement, from benchmarks/train_classifier.py (default: none, no class agreement)")
    p.add_argument("--cache-dir", default=DEFAULT_CACHE,
                   help="where reference statistics are cached; if it cannot be written, they are computed and "
                   "not kept (default: ~/.cache/keras-gan-cifar10)")
    args = p.parse_args(argv)
    if not args.real_test and not args.run_dir:
        p.error("give a RUN_DIR, or --real-test for the real-data floor")
    for flag, value, low, high in (("--n", args.n, 2, 10**6), ("--batch-size", args.batch_size, 1, 10**4),
                                   ("--seed", args.seed, 0, 2**63 - 1)):
        if not low <= value <= high:
            p.error(f"{flag} {value}: must be from {low} to {high}")
    for flag, value in (("RUN_DIR", args.run_dir), ("--data", args.data), ("--features", args.features),
                        ("--inception-weights", args.inception_weights), ("--cache-dir", args.cache_dir),
                        ("--classifier", args.classifier)):
        if value == "":
            p.error(f"{flag}: empty path")
    return args


def check_inputs(args):
    """Everything that can be checked before TensorFlow loads: the run, its eval.json, the paths.
    Returns the run's (config, weights file name), or ({}, None) with --real-test alone."""
    checked = {}, None
    try:
        if args.run_dir:
            check_not_a_link("RUN_DIR", args.run_dir)  # eval.json is written into it, never through a link
            checked = check_run_dir(args.run_dir, use_ema=not args.no_ema)
            read_results(args.run_dir)
            check_writable_folder("RUN_DIR", args.run_dir)
        # Read the data now (a second or two; the official archive is downloaded first if need be), so that a
        # damaged or missing archive, or no network, is refused at once.
        # A folder of pictures has no test split: --real-test on one is refused here (defDATA.load_data).
        images, _ = load_data(args.data or checked[0].get("data"), split="test" if args.real_test else "train",
                              image_size=checked[0].get("image_size", 32))
        if args.real_test and args.n > len(images):  # scoring fewer than asked would mislabel the floor
            raise EvalError(f"--n {args.n}: the test split holds only {len(images)} test images; "
                            f"use --n {len(images)} or less")
        if args.classifier:
            check_classifier_file(args.classifier)
            if args.real_test or not checked[0].get("conditional"):
                raise EvalError(f"--classifier: class agreement needs a conditional run (train.py --conditional), "
                                f"and {args.run_dir or '--real-test'} is not one")
        cache_warning = check_cache_dir(args.cache_dir)
        feature_size = check_feature_spec(args.features, args.inception_weights)  # last: it may download
        if feature_size:  # known before TensorFlow loads for InceptionV3 and .tflite files; .keras: see evaluate()
            check_enough(args.n, feature_size)
    except (SampleError, RunError, DataError, ValueError) as error:
        raise EvalError(str(error)) from None
    if cache_warning:  # the scores can still be computed, only not kept for next time
        print(cache_warning)
        args.cache_dir = None
    return checked


def evaluate(args, config, weights_name):
    """Score what the arguments ask for, for a run checked by check_inputs; returns the result entry."""
    generator = None
    if not args.real_test:  # with --real-test, a run only names its data (config)
        try:
            generator = build_generator(args.run_dir, config, weights_name)
        except SampleError as error:
            raise EvalError(str(error)) from None
    try:
        network = load_feature_network(args.features, args.inception_weights)
        classifier = load_classifier(args.classifier) if args.classifier else None
    except ValueError as error:
        raise EvalError(str(error)) from None
    check_enough(args.n, network.feature_size)
    data = args.data or config.get("data")
    size = config.get("image_size", 32)  # the run's; --real-test alone: CIFAR-10's own 32x32
    reference = real_statistics(network, data, "train", args.n, args.batch_size, args.cache_dir, size)
    if args.real_test:
        scored = real_statistics(network, data, "test", args.n, args.batch_size, args.cache_dir, size)
        what = f"real {data_name(data, 'test', size)} images"
    else:
        classes = trained_classes(config)
        batches = generated_batches(generator, args.n, args.batch_size, args.seed, classes)
        kept = None
        if classes is not None:  # a conditional run: images and features kept for the per-class scores
            batches, kept = list(batches), []
        stats = feature_statistics((images for images, _ in batches), network, args.n, kept=kept,
                                   label=f"{args.n} generated images")
        scored, what = statistics_table(stats), f"generated by {args.run_dir} ({weights_name})"
    entry = score(scored, reference, network, what, data_name(data, "train", size), size)
    if not args.real_test and classes is not None:
        generated, generated_classes = (np.concatenate(part) for part in zip(*batches))
        entry.update(class_scores(generated, generated_classes, np.concatenate(kept), network, data, classes,
                                  args.batch_size, classifier, class_names(config)))
    return entry


def check_finite(entry):
    """Never write NaN into eval.json (JSON has no NaN; readers choke on it): say which score is broken."""
    values = list(entry.items()) + [(f"class_kid {name}", value) for name, value in entry.get("class_kid", {}).items()]
    broken = [name for name, value in values if isinstance(value, float) and not math.isfinite(value)]
    if broken:
        raise EvalError(f"{', '.join(broken)}: not finite (NaN or infinite); nothing written to eval.json")


def main(argv=None):
    args = parse_args(argv)
    started = time.time()
    try:
        entry = evaluate(args, *check_inputs(args))
        check_finite(entry)
        entry["seconds"] = round(time.time() - started, 1)
        report(entry)
        if args.run_dir:
            print(f"appended to {append_result(args.run_dir, entry)}")
    except (EvalError, RunError) as error:
        sys.exit(f"error: {one_line(error)}")
    except KeyboardInterrupt:  # Ctrl-C: one line, as train.py says it, not Python's traceback
        print("stopped (Ctrl-C)", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
