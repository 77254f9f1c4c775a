"""Every option that defines a run, its default, and named presets of them.

CLASSIC below is the one table of every option, with the widely copied Keras
tutorial's values: the reference every other preset is measured against
(docs/results.md; benchmarks/quality.py). Each preset is CLASSIC with a few
values changed (`python train.py --preset NAME`); a flag typed on the command
line changes any. DEFAULT_PRESET, the one a run uses unless told otherwise,
measured best at an equal 30-minute CPU budget; train.py's help quotes both.

Each option's flag is defined here too (`add_run_options`, which train.py
calls), with its help quoting the default from these tables, and
`run_config` turns a command line into a new run's options: the preset's,
with every flag typed on top. The checks live in machinery/options.py, which
reads the options and never changes them. No TensorFlow is loaded here:
train.py checks a command line before TensorFlow starts, so a typo is
answered at once.
"""
import argparse

from defDATA import CLASS_NAMES, IMAGE_SIZES, DataError, data_class_names, is_image_folder, parse_classes

# The names an option can take. The modules that implement them import these.
ARCHITECTURES = ("classic", "standard")             # network pairs: discri_keras.py, gene_keras.py
LOSSES = ("bce", "lsgan", "hinge", "wasserstein")   # losses.py
SIGN_LABEL_LOSSES = ("hinge", "wasserstein")         # read labels as signs, not targets: no label smoothing
AUGMENTATIONS = ("color", "translation", "cutout")  # DiffAugment policies: augment.py
ADAPTIVE = "ada"  # adaptive augmentation (ADA): a pipeline of its own, applied with a probability that adapts
# --precision: each choice's Keras dtype policy (machinery/devices.py sets it; "auto" picks one for the machine).
PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}

CLASSIC = {
    # The networks (gene_keras.py, discri_keras.py); samples.py rebuilds them from these.
    "architecture": "classic",  # or "standard" (SNGAN's standard CNN)
    "latent_dim": 100,        # size of the random input vector, as in the DCGAN paper
    "width": 1.0,             # filter-count multiplier of both networks; 1.0 is the published network
    "dropout": 0.4,           # discriminator dropout, as in the classic tutorial
    "batch_norm": False,      # batch normalization in the generator
    "conditional": False,     # both networks also take the class: draw the class you ask for
    "spectral_norm": False,   # spectral normalization of every discriminator layer
    "loss": "bce",            # bce | lsgan | hinge | wasserstein (losses.py)
    "augment": "",            # DiffAugment policy on D's input, e.g. "color,translation", or "ada" (augment.py)
    # Training (defGAN.py, train.py).
    "batch_size": 128,        # images per step: D sees 64 real + 64 generated, G trains on 128
    "lr_d": 2e-4,             # Adam learning rate of D (DCGAN's 2e-4)
    "lr_g": 2e-4,             # Adam learning rate of G
    "beta1": 0.5,             # Adam's first momentum term (DCGAN's 0.5; Keras' own is 0.9)
    "beta2": 0.999,           # Adam's second momentum term (Keras' own)
    "d_steps": 1,             # discriminator updates per generator update
    "warmup_steps": 0,        # learning-rate warm-up length in updates (0 = none)
    "label_smoothing": 0.0,   # one-sided: D's real label becomes 1 - this
    "ema": 0.0,               # decay of the generator's weight average (0 = off; ema.py)
    "flip": False,            # random left-right mirroring of real images
    # The data and the machine: no preset changes these.
    "seed": 0,                # weights, data order, flips, dropout and noise all follow it
    "classes": None,          # a list of class numbers to train on; None = all of them
    "steps_per_epoch": None,  # cut each epoch to this many steps; None = the whole data set
    "data": None,             # CIFAR-10 archive or folder, or a folder of pictures; None = CIFAR-10 downloaded
    "image_size": 32,         # images are image_size x image_size pixels: 32, 64 or 128 (defDATA.IMAGE_SIZES)
    "class_names": None,      # the class names, set from the data; None = CIFAR-10's ten (defDATA.CLASS_NAMES)
    "precision": "auto",      # float32 | bfloat16 | float16, or auto: chosen for the machine (devices.py)
}

PRESETS = {
    "classic": CLASSIC,
    # The classic networks with the two practices that measured best on their
    # own after 3 minutes (README, "Results"): batch norm in the generator, as
    # the DCGAN paper has it, and a moving average of the generator's weights.
    # After 30 minutes it measured *worse* than classic, so it is not the default.
    "dcgan-ema": dict(CLASSIC, batch_norm=True, ema=0.999),
    # The classic networks at half width with half the batch, plus weight
    # averaging. On a CPU, a GAN's first hours are short of *updates*, not of
    # capacity or of images per update: half the filters cost about a quarter
    # of the arithmetic, so 30 minutes bought 5.6x classic's updates. The average
    # of the generator's recent weights smooths out the noise of those small,
    # fast steps (no batch norm here: with it, in `dcgan-ema`, the average
    # scored worse than the live weights; docs/results.md, "dcgan-ema lost").
    "small-ema": dict(CLASSIC, width=0.5, batch_size=64, ema=0.999),
    # SNGAN's CIFAR-10 recipe (Miyato et al. 2018): standard CNN pair, spectral
    # norm, hinge loss, Adam 2e-4 with beta1 0 / beta2 0.9; plus weight averaging.
    "sngan": dict(CLASSIC, architecture="standard", latent_dim=128, batch_norm=True, spectral_norm=True,
                  loss="hinge", dropout=0.0, beta1=0.0, beta2=0.9, ema=0.999),
}
# small-ema, class-conditional: G draws the class it is given, D is a
# projection discriminator (discri_keras.py). CIFAR-10's labels are free
# information: with them D's question, and so G's signal, is sharper. But a
# sharper D also wins sooner: without augmentation the run peaked at 38 minutes
# and then collapsed, every class one texture by 80 minutes (docs/results.md).
# DiffAugment's translation (augment.py) shows D only randomly shifted images,
# real and fake alike, so it cannot memorise the 50,000 real ones and G keeps a
# signal. Translation alone beat all three augmentations (colour, translation,
# cutout): at 30 minutes (distance 240 against 307, class agreement 59 % against
# 48 %) and over 2 hours with no collapse (best distance 71.5 against 167.4,
# 2,000 images). Not the default: it starts slower, and after 30 minutes its
# distance was 2.0x small-ema's; it kept improving for about 2 hours (the
# default has not been run that long).
PRESETS["small-ema-conditional"] = dict(PRESETS["small-ema"], conditional=True, augment="translation")
DEFAULT_PRESET = "small-ema"  # the best measured at a 30-minute CPU budget (README, "Results")


# Memory of training, roughly, for refusing sizes that cannot fit before any
# network is built. Per architecture, at width 1: (outputs of the generator's
# first Dense layer, parameters that grow with width squared (both networks),
# activations per image (both networks)). tests/test_options.py checks the
# parameter counts against the built networks.
NETWORK_SIZES = {"classic": (4096, 1_564_672, 290_000), "standard": (8192, 5_677_056, 580_000)}


def estimated_memory(config):
    """Bytes of float32: weights, gradients, Adam's two slots and the EMA copy (5 per
    parameter), plus forward and backward activations of one generator batch (3 per value)."""
    dense, squared, activations = NETWORK_SIZES[config["architecture"]]
    activations *= (config["image_size"] // 32) ** 2  # activations grow with the pixel count
    width = config["width"]
    parameters = config["latent_dim"] * dense * width + squared * width**2
    return 4 * (5 * parameters + 3 * config["batch_size"] * activations * width)



def scaled(filters, width):
    """A layer's filter count times the `width` multiplier (at least 1), for both networks."""
    return max(1, int(round(filters * width)))


def parse_policy(text):
    """'color,translation' -> ('color', 'translation'), 'ada' -> ('ada',); raises ValueError on unknown names,
    and on 'ada' with others (ADA's pipeline already holds translation, colour and cutout: augment.py)."""
    names = tuple(name.strip() for name in (text or "").split(",") if name.strip())
    unknown = [name for name in names if name not in AUGMENTATIONS + (ADAPTIVE,)]
    if unknown:
        raise ValueError(f"unknown augmentation {', '.join(unknown)} "
                         f"(choose from {', '.join(AUGMENTATIONS)}, or {ADAPTIVE} alone)")
    if ADAPTIVE in names and len(names) > 1:
        raise ValueError(f"{ADAPTIVE} stands alone: its own pipeline already flips, rotates, translates, "
                         "recolours and cuts out")
    return names


def preset_options(name):
    """The options of preset `name`; raises KeyError naming the choices."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r} (choose from {', '.join(PRESETS)})")
    return dict(PRESETS[name])


def add_run_options(p):
    """The flags of every option that defines a run (train.py), each help quoting its default from the tables above."""
    # No default here: None means "not typed", so the preset fills it in, and
    # --resume can tell a deliberate change from a default (typed_options below).
    p.add_argument("--preset", help=f"named configuration, see presets.py: {', '.join(PRESETS)}; "
                   f"flags below override it (default: {DEFAULT_PRESET}, the best measured)")
    p.add_argument("--steps-per-epoch", type=int,
                   help="cut each epoch to this many steps (default: the whole data set)")
    p.add_argument("--batch-size", type=int, help="images per update: each D update sees half real, half "
                   f"generated images; G trains on a full batch {default_of('batch_size')}")
    p.add_argument("--architecture", choices=ARCHITECTURES,
                   help=f"network pair: the Keras tutorial's, or SNGAN's standard CNN {default_of('architecture')}")
    p.add_argument("--latent-dim", type=int, help=f"size of the noise vector {default_of('latent_dim')}")
    p.add_argument("--width", type=float, help=f"filter-count multiplier of both networks {default_of('width')}")
    p.add_argument("--loss", choices=LOSSES, help=f"GAN loss, see losses.py {default_of('loss')}")
    p.add_argument("--batch-norm", action=argparse.BooleanOptionalAction,
                   help=f"batch normalization in the generator {default_of('batch_norm')}")
    p.add_argument("--conditional", action=argparse.BooleanOptionalAction,
                   help="class-conditional GAN: G draws the class it is given, D is a projection discriminator; "
                   f"the classes are CIFAR-10's ten, or a --data folder's class subfolders {default_of('conditional')}")
    p.add_argument("--spectral-norm", action=argparse.BooleanOptionalAction,
                   help=f"spectral normalization of every discriminator layer {default_of('spectral_norm')}")
    p.add_argument("--dropout", type=float, help=f"discriminator dropout rate, 0 for none {default_of('dropout')}")
    p.add_argument("--label-smoothing", type=float,
                   help=f"one-sided: D's real label becomes 1 - this, e.g. 0.1 {default_of('label_smoothing')}")
    p.add_argument("--augment", help="augmentation of every image D sees: DiffAugment, comma-separated from "
                   f"{','.join(AUGMENTATIONS)}; or {ADAPTIVE}, adaptive augmentation for small sets (its probability "
                   f"starts at 0 and rises while D overfits); '' for none {default_of('augment')}")
    p.add_argument("--lr", type=float, help="Adam learning rate of both networks (default: --lr-d's and --lr-g's)")
    p.add_argument("--lr-d", type=float, help=f"discriminator learning rate, overrides --lr {default_of('lr_d')}")
    p.add_argument("--lr-g", type=float, help=f"generator learning rate, overrides --lr {default_of('lr_g')}")
    p.add_argument("--beta1", type=float, help=f"Adam beta_1 {default_of('beta1')}")
    p.add_argument("--beta2", type=float, help=f"Adam beta_2 {default_of('beta2')}")
    p.add_argument("--d-steps", type=int, help="discriminator updates per generator update, each on new "
                   f"real images {default_of('d_steps')}")
    p.add_argument("--warmup-steps", type=int, help="raise the learning rates linearly from 0 over this many "
                   f"updates {default_of('warmup_steps')}")
    p.add_argument("--ema", type=float, help="decay of the generator's weight average, e.g. 0.999; "
                   f"0 turns it off {default_of('ema')}")
    p.add_argument("--seed", type=int, help="seed for weights, data order, flips, dropout and noise "
                   f"(default: {CLASSIC['seed']})")
    p.add_argument("--classes", help="train on these classes only, e.g. 'horse', 'cat,dog' or '7'; with --data FOLDER, "
                   "names of its class subfolders (default: all)")
    p.add_argument("--image-size", type=int, choices=IMAGE_SIZES,
                   help="train on image_size x image_size images; each doubling adds one block to both networks "
                   "and about 4x the arithmetic; CIFAR-10's 32x32 images are upscaled to it, which adds no detail "
                   f"(for trying the sizes) (default: {CLASSIC['image_size']}, CIFAR-10's own size)")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction,
                   help=f"mirror real images at random, left to right {default_of('flip')}")
    p.add_argument("--precision", choices=["auto", *PRECISIONS], help="float32, or Keras mixed precision "
                   "(16-bit compute, float32 weights); auto: bfloat16 on a CPU with avx512_bf16 or amx_bf16, "
                   "float16 on a GPU of compute capability 7.0+, bfloat16 on a TPU, else float32 "
                   f"(default: {CLASSIC['precision']}; a resumed run keeps the precision it started with)")


def default_of(key):
    """How a run option's help states its default: the default preset's value and classic's, from the tables above."""
    return f"(default: from the preset; {DEFAULT_PRESET}: {PRESETS[DEFAULT_PRESET][key]!r}, classic: {CLASSIC[key]!r})"


class OptionError(ValueError):
    """A typed option with a value no run can have, described in one line that names the flag."""


def typed_options(args, class_names=CLASS_NAMES):
    """The run options typed on the command line, as config values (an option not typed is None in args,
    so the preset's value stands, and --resume can tell a deliberate change from a default).
    `class_names`: the data's classes, which --classes names (defDATA.data_class_names)."""
    typed = {key: getattr(args, key) for key in list(CLASSIC) + ["preset"] if getattr(args, key, None) is not None}
    if getattr(args, "lr", None) is not None:  # --lr sets both rates; --lr-d and --lr-g still win
        typed = dict({"lr_d": args.lr, "lr_g": args.lr}, **typed)
    if typed.get("augment") is not None:
        try:
            typed["augment"] = ",".join(parse_policy(typed["augment"]))
        except ValueError as error:
            raise OptionError(f"--augment {args.augment}: {error}") from None
    if typed.get("classes") is not None:
        try:
            typed["classes"] = parse_classes(typed["classes"], class_names)  # names or numbers -> class numbers
        except DataError as error:
            raise OptionError(str(error)) from None
    return typed


def run_config(args):
    """A new run's options: its preset's (--preset, else DEFAULT_PRESET), then every flag typed on top,
    and the data's class names (a folder's class subfolders; None for CIFAR-10's ten)."""
    try:  # lists a folder of pictures (its class subfolders), decodes nothing
        folder_classes = data_class_names(args.data)
    except DataError as error:
        raise OptionError(str(error)) from None
    flat_folder = is_image_folder(args.data) and not folder_classes  # pictures without class subfolders
    if flat_folder and getattr(args, "classes", None):
        raise OptionError(f"--classes {args.classes}: --data {args.data} has no class subfolders, so no classes")
    typed = typed_options(args, folder_classes or CLASS_NAMES)
    name = typed.get("preset") or DEFAULT_PRESET
    if name not in PRESETS:
        raise OptionError(f"--preset: unknown preset {name!r} (choose from {', '.join(PRESETS)})")
    config = dict(PRESETS[name])
    config.update(typed, preset=name, class_names=list(folder_classes) if folder_classes else None)
    if flat_folder and config["conditional"]:
        flag = "--conditional" if typed.get("conditional") else f"--preset {name} (conditional)"
        raise OptionError(f"{flag}: --data {args.data} has no class subfolders, so no classes to draw; "
                          "put each class's pictures in a subfolder of its own, or use --no-conditional")
    return config
