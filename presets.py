"""Every option that defines a run, its default, and named presets of them.

CLASSIC below is the one table of every option, with the widely copied Keras
tutorial's values: the reference every other preset is measured against
(docs/results.md; benchmarks/quality.py). Each preset is CLASSIC with a few
values changed (`python train.py --preset NAME`); a flag typed on the command
line changes any. DEFAULT_PRESET, the one a run uses unless told otherwise,
measured best at an equal 30-minute CPU budget; train.py's help quotes both.

This module imports nothing else: train.py checks a command line against it
before TensorFlow loads, so a typo is answered at once.
"""

# The names an option can take. The modules that implement them import these.
ARCHITECTURES = ("classic", "standard")             # network pairs: discri_keras.py, gene_keras.py
LOSSES = ("bce", "lsgan", "hinge", "wasserstein")   # losses.py
SIGN_LABEL_LOSSES = ("hinge", "wasserstein")         # read labels as signs, not targets: no label smoothing
AUGMENTATIONS = ("color", "translation", "cutout")  # DiffAugment policies: augment.py

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
    "augment": "",            # DiffAugment policy on D's input, e.g. "color,translation" (augment.py)
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
    "classes": None,          # a list of class numbers to train on; None = all ten
    "steps_per_epoch": None,  # cut each epoch to this many steps; None = the whole data set
    "data": None,             # CIFAR-10 archive or folder; None = the official archive, downloaded once
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


def scaled(filters, width):
    """A layer's filter count times the `width` multiplier (at least 1), for both networks."""
    return max(1, int(round(filters * width)))


def parse_policy(text):
    """'color,translation' -> ('color', 'translation'); raises ValueError on unknown names."""
    names = tuple(name.strip() for name in (text or "").split(",") if name.strip())
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"unknown augmentation {', '.join(unknown)} (choose from {', '.join(AUGMENTATIONS)})")
    return names


def preset_options(name):
    """The options of preset `name`; raises KeyError naming the choices."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r} (choose from {', '.join(PRESETS)})")
    return dict(PRESETS[name])
