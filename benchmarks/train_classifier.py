"""Train the CIFAR-10 classifier that evaluate.py --classifier uses for class agreement.

Class agreement asks: of the images a conditional generator drew for class y,
what fraction does a good classifier call y? This script makes that
classifier, offline, on the training set, and reports its test accuracy (the
ceiling of any agreement). It takes images in the generator's range [-1, 1]
(defDATA.scale_images), so generated images go in as they are.

The network is a small VGG-style CNN (three blocks of two 3x3 convolutions
with batch norm, each halving the size), trained with random flips and
translations, label smoothing and Adam with a cosine-decaying learning rate.
The saved classifier averages its predictions over 18 views of each image:
itself and its mirror, each also shifted by a pixel or two (test-time
augmentation: about two points of accuracy for nothing, since a shifted cat
is still a cat).

    python benchmarks/train_classifier.py --data ~/.cache/cifar10/cifar-10-python.tar.gz --out classifier.keras

Plain Keras 3 with numpy input, so it also runs on Keras' JAX backend (as on
the lent GPU machines, which have no TensorFlow).
"""
import os
import sys
import time


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from defDATA import CLASS_NAMES, CIFAR_IMAGE_SHAPE, DataError, load_cifar10, scale_images  # noqa: E402
from machinery.options import (ArgumentParser, RunError, check_writable_folder,  # noqa: E402  one line a mistake
                               one_line)

MAX_EPOCHS = 10**5  # far beyond any real use (the default is 30): more is a typing mistake


def parse_args():
    p = ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="cifar-10-python.tar.gz or cifar-10-batches-py/ folder (required)")
    p.add_argument("--out", default="classifier.keras", help="the .keras file to write (default: classifier.keras)")
    p.add_argument("--epochs", type=int, default=30, help="passes over the 50,000 training images (default: 30)")
    p.add_argument("--batch-size", type=int, default=128, help="images per update (default: 128)")
    p.add_argument("--width", type=int, default=64, help="filters of the first block; x2, x4 after (default: 64)")
    p.add_argument("--precision", default="float32", choices=["float32", "mixed_bfloat16", "mixed_float16"],
                   help="Keras dtype policy; mixed_bfloat16 is faster on CPUs with AMX or avx512_bf16 "
                   "(default: float32)")
    p.add_argument("--label-smoothing", type=float, default=0.1,
                   help="s in [0, 1): each target is (1 - s) x one-hot + s/10 for every class (default: 0.1)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, order and augmentation (default: 0)")
    args = p.parse_args()
    for flag in ("epochs", "batch_size", "width"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag.replace('_', '-')} {getattr(args, flag)}: must be at least 1")
    if args.epochs > MAX_EPOCHS:
        p.error(f"--epochs {args.epochs}: must be at most {MAX_EPOCHS}")
    if not 0 <= args.seed < 2**32:  # Keras seeds numpy with it, whose seeds stop there
        p.error(f"--seed {args.seed}: must be from 0 to {2**32 - 1}")
    if not 0 <= args.label_smoothing < 1:
        p.error(f"--label-smoothing {args.label_smoothing:g}: must be at least 0 and below 1")
    try:
        check_output_file(args.out)
    except RunError as error:
        p.error(str(error))
    return args


def check_output_file(path):
    """--out must be a new .keras file in a folder we can write, and not a symbolic link
    (which Keras would write through), checked before the data is read or anything trains."""
    folder = os.path.dirname(path) or "."
    if not path.endswith(".keras"):
        raise RunError(f"--out {path}: must end in .keras (Keras' model format)")
    if os.path.islink(path):
        raise RunError(f"--out {path}: is a symbolic link; nothing is written through one")
    if os.path.exists(path):
        raise RunError(f"--out {path}: already exists; choose a new file (nothing is overwritten)")
    if not os.path.isdir(folder):
        raise RunError(f"--out {path}: the folder {folder} does not exist")
    check_writable_folder("--out", folder)


def estimated_memory(width, batch_size, images):
    """Bytes of training, roughly: the images as float32; about 279 width**2 weights, each
    with its gradient and Adam's two slots; and per image of a batch about 10,752 width
    activations (the three blocks' convolution, batch-norm and ReLU outputs: 6 x 32 x 32 x
    width, 6 x 16 x 16 x 2 width, 6 x 8 x 8 x 4 width), each kept with its gradient."""
    return 4 * (images * 3072 + 4 * 279 * width**2 + 2 * batch_size * 10_752 * width)


def check_sizes(args, train_count, test_count):
    """Refuse a batch larger than the data (an epoch of no step) or sizes that cannot fit in memory."""
    if args.batch_size > train_count:
        sys.exit(f"error: --batch-size {args.batch_size}: more than the {train_count} training images")
    needed, total = (estimated_memory(args.width, args.batch_size, train_count + test_count),
                     os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    if needed > total:
        sys.exit(f"error: --width {args.width}, --batch-size {args.batch_size}: training would need about "
                 f"{needed / 2**30:.0f} GiB of memory, this machine has {total / 2**30:.0f} GiB")


def save_new(model, path):
    """Save without overwriting: into a temporary file beside `path`, then linked to its name,
    which fails if a file of that name appeared meanwhile (os.replace would overwrite it)."""
    temporary = os.path.join(os.path.dirname(path) or ".", f".tmp-{os.getpid()}-{os.path.basename(path)}")
    try:
        model.save(temporary)
        os.link(temporary, path)
    except FileExistsError:
        sys.exit(f"error: --out {path}: a file of that name appeared while training; the classifier is in "
                 f"{temporary}")
    except OSError as error:  # the disk filled up, the folder went ...
        sys.exit(f"error: --out {path}: cannot write it ({error.strerror or error})")
    os.remove(temporary)


def define_classifier(width):
    """[N, 32, 32, 3] in [-1, 1] -> [N, 10] class probabilities."""
    import keras
    from keras import layers

    images = keras.Input(shape=CIFAR_IMAGE_SHAPE, name="images")
    x = layers.RandomFlip("horizontal")(images)                       # only while training
    x = layers.RandomTranslation(0.125, 0.125, fill_mode="constant", fill_value=-1.0)(x)
    for filters in (width, 2 * width, 4 * width):                    # 32x32 -> 16x16 -> 8x8 -> 4x4
        for _ in range(2):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.ReLU()(layers.BatchNormalization()(x))
        x = layers.MaxPooling2D()(x)
    x = layers.Dropout(0.3)(layers.GlobalAveragePooling2D()(x))      # 4 * width
    probabilities = layers.Dense(len(CLASS_NAMES), activation="softmax", dtype="float32")(x)
    return keras.Model(images, probabilities, name="cifar10_classifier")


# Test-time views: the image and its mirror, each also shifted 1 or 2 pixels
# up, down, left or right (a few of the translations it trained with, up to 4
# pixels), 18 views in all. Averaging them gained two points on the test images
# (83.2 % -> 85.1 %): a mirrored or shifted cat is still a cat.
TEST_TIME_SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (2, 0), (-2, 0), (0, 2), (0, -2))


def shifted(images, rows, columns, margin=2):
    """[N, 32, 32, 3] moved `rows` down and `columns` right, the uncovered edge filled with -1 (black), as
    RandomTranslation fills it in training. keras.ops only, so the view is saved in the .keras file."""
    import keras

    padded = keras.ops.pad(images, ((0, 0), (margin, margin), (margin, margin), (0, 0)), constant_values=-1.0)
    height, width = CIFAR_IMAGE_SHAPE[:2]
    return padded[:, margin - rows:margin - rows + height, margin - columns:margin - columns + width, :]


def with_test_time_average(model):
    """The same classifier, answering with the mean of its predictions on the
    18 views above (loading the .keras file needs no custom code)."""
    import keras

    images = keras.Input(shape=CIFAR_IMAGE_SHAPE, name="images")
    mirrored = keras.ops.flip(images, axis=2)                         # [N, 32, 32, 3], width reversed
    views = [shifted(view, rows, columns) for view in (images, mirrored) for rows, columns in TEST_TIME_SHIFTS]
    probabilities = keras.layers.Average()([model(view) for view in views])
    return keras.Model(images, probabilities, name="cifar10_classifier_test_time_averaged")


def main():
    args = parse_args()
    # The data first, before TensorFlow starts: a wrong --data gets one line.
    try:
        train_images, train_classes = load_cifar10(args.data, "train")
        test_images, test_classes = load_cifar10(args.data, "test")
    except DataError as error:
        sys.exit(f"error: {one_line(error)}")
    check_sizes(args, len(train_images), len(test_images))
    import keras

    keras.utils.set_random_seed(args.seed)
    keras.config.set_dtype_policy(args.precision)
    train_x, test_x = scale_images(train_images), scale_images(test_images)
    model = define_classifier(args.width)
    steps = args.epochs * (len(train_x) // args.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, steps)
    # Label smoothing needs one-hot targets (the sparse loss has no such option).
    train_targets, test_targets = (keras.utils.to_categorical(classes, len(CLASS_NAMES))
                                   for classes in (train_classes, test_classes))
    model.compile(optimizer=keras.optimizers.Adam(schedule), metrics=["accuracy"],
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing))
    print(f"Keras {keras.__version__}, backend {keras.config.backend()}; {model.count_params():,} parameters; "
          f"{len(train_x)} training and {len(test_x)} test images", flush=True)
    started = time.time()
    try:
        model.fit(train_x, train_targets, batch_size=args.batch_size, epochs=args.epochs, verbose=2,
                  validation_data=(test_x, test_targets), validation_freq=max(1, args.epochs // 5))
    except KeyboardInterrupt:  # Ctrl-C: a classifier trained part of the way is not the one asked for
        sys.exit(f"stopped by Ctrl-C before the end of the training; nothing was written to {args.out}")
    minutes = (time.time() - started) / 60
    # Saved without Adam's state: classifying needs only the weights (a third of the size).
    # A fresh, never-compiled copy (a clone of a compiled model can carry the optimizer along).
    single = define_classifier(args.width)
    single.set_weights(model.get_weights())
    classifier = with_test_time_average(single)
    save_new(classifier, args.out)
    averaged = f"{2 * len(TEST_TIME_SHIFTS)} views averaged, saved"           # each shift, and mirrored
    for name, network in (("one view", single), (averaged, classifier)):
        predicted = network.predict(test_x, batch_size=500, verbose=0).argmax(axis=1)
        print(f"test accuracy ({name}) {(predicted == test_classes).mean():.4f} on {len(test_x)} images", flush=True)
    print(f"{args.epochs} epochs, {minutes:.1f} minutes of training; wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
