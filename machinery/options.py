"""The options that define a run: presets, typed flags, checks, and config.json.

A run's config is its preset's options (presets.py) with the flags the user
typed on top, checked here before anything is written. `train.py --resume`
reads the config back from RUN_DIR/config.json; a typed option that
contradicts it is refused, because a resumed run must stay the same run.
runs.py uses these to start or resume a run. The options themselves are
built by presets.run_config; this module only reads them.
"""
import argparse
import json
import math
import os
import sys
import tempfile

from defDATA import IMAGE_SIZES, DataError, class_names, data_class_names
from machinery import cluster
from machinery.numbers import real_number, whole_number
from machinery.safe_files import names_a_link, read_json
from presets import (ADAPTIVE, ARCHITECTURES, AUGMENTATIONS, CLASSIC, LOSSES, PRECISIONS, SIGN_LABEL_LOSSES,
                     OptionError, estimated_memory, parse_policy, typed_options)

# Where a run trains (devices.py): tf.distribute strategies.
STRATEGIES = ("none", "mirrored", "multi-worker")

# The options that define a run, stored in config.json: a preset's (see
# presets.py) plus the ones no preset sets.
RUN_KEYS = list(CLASSIC) + ["preset"]  # config.json: the options of presets.CLASSIC, and the preset's name
# Options that may differ when resuming: where the data lives is not part of the model.
RESUME_MAY_CHANGE = {"data", "precision"}  # and the precision, e.g. on another machine
MAX_CONFIG_BYTES = 2**20  # a run's config.json is about 1 KB

class RunError(Exception):
    """Bad input or an unusable run directory, described in one line."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with a mistake answered in one line (no usage block): "error: ...",
    and numbers read as a user reads them: every type=int flag is read by
    whole_number, every type=float flag by real_number (machinery/numbers.py)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register("type", int, whole_number)  # argparse looks a flag's type up here before calling it
        self.register("type", float, real_number)

    def error(self, message):
        sys.exit(f"error: {one_line(message)}")


IMAGE_TYPES = (".png", ".jpg", ".jpeg")  # what matplotlib writes without extra packages


def check_writable_folder(flag, folder):
    """Refuse a folder we cannot write into, by trying (permissions alone do not tell, e.g. for root).
    mkstemp creates a new file of a random name (.tmp-: cleaned up if left by a kill), never
    following a symbolic link someone may have planted under a predictable name."""
    try:
        descriptor, probe = tempfile.mkstemp(prefix=".tmp-write-probe-", dir=folder or ".")
        os.close(descriptor)
        os.remove(probe)
    except OSError as error:
        raise RunError(f"{flag} {folder}: cannot write there ({error.strerror})") from None


def check_output_image(flag, path, types=IMAGE_TYPES):
    """Refuse an output image path that cannot be written, before anything is computed."""
    folder = os.path.dirname(path)
    if not path.lower().endswith(types):
        raise RunError(f"{flag} {path}: unknown image type (use {', '.join(types)})")
    if os.path.isdir(path):
        raise RunError(f"{flag} {path}: is a folder; give a file name")
    if folder and not os.path.isdir(folder):
        raise RunError(f"{flag} {path}: the folder {folder} does not exist")
    check_writable_folder(flag, folder)


def check_not_a_link(flag, folder):
    """Refuse a run folder given as a symbolic link: the project never writes through one (its files would
    land, and --overwrite would delete, wherever it points). `link/` and `link/.` still name the link."""
    if names_a_link(folder):
        raise RunError(f"{flag} {folder}: is a symbolic link; give the folder itself ({os.path.realpath(folder)})")


def check_utf8_name(flag, folder):
    """Refuse a run folder whose full name is not valid UTF-8 (a byte such as 0xff, which Python carries as a
    surrogate): TensorFlow's event writer cannot take such a name, and would fail after the run had started."""
    full = os.path.abspath(folder)  # the current folder's name counts too
    try:
        full.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(full).decode("utf-8", "backslashreplace")
        raise RunError(f"{flag} {shown}: its name is not valid UTF-8, which TensorFlow cannot write "
                       "to; rename it, or choose another folder") from None


def check_output_folder(flag, folder):
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise RunError(f"{flag} {folder}: exists and is not a folder")
    parent = folder if os.path.isdir(folder) else os.path.dirname(os.path.abspath(folder))
    if not os.path.isdir(parent):
        raise RunError(f"{flag} {folder}: the folder {parent} does not exist")
    check_writable_folder(flag, parent)


def add_device_arguments(parser):
    """train.py's flags for where a run trains (machinery/devices.py); they may change when resuming."""
    parser.add_argument("--jit-compile", choices=["auto", "on", "off"], default="auto",
                        help="compile training steps with XLA; auto = on with a GPU, off on CPU, where it "
                        "was measured 2x slower (default: auto)")
    parser.add_argument("--strategy", choices=STRATEGIES, default="none",
                        help="tf.distribute: none, mirrored (all GPUs of this machine), multi-worker (several "
                        "machines, set TF_CONFIG; see README; each waits GAN_CLUSTER_TIMEOUT seconds, default 600, "
                        "for the others to join) (default: none)")
    parser.add_argument("--cpu-replicas", type=int, default=0, help="with --strategy mirrored and no GPU: split "
                        "the CPU into this many logical devices, to try or test the mirrored path (default: 0, off)")


def whole(value):
    return type(value) is int  # bool is a subclass of int, and never a count


def finite(value):
    return type(value) in (int, float) and math.isfinite(value)


# What each option must be: (is the value acceptable?, the rule in words). The
# same rules check the flags typed and a run's config.json read back (which a
# person may have edited). The upper bounds only stop absurd values early; see
# check_memory for what really fits.
RULES = {
    "epochs": (lambda v: whole(v) and 1 <= v <= 10**7, "must be a whole number from 1 to 10000000"),
    "keep": (lambda v: whole(v) and 1 <= v <= 10**6, "must be from 1 to 1000000"),
    "checkpoint_every": (lambda v: whole(v) and 0 <= v <= 10**9, "must be from 0 to 1000000000"),
    "eval_every": (lambda v: whole(v) and 0 <= v <= 10**7, "must be from 0 to 10000000"),
    "eval_samples": (lambda v: whole(v) and 2 <= v <= 10**6, "must be from 2 to 1000000"),
    "steps_per_epoch": (lambda v: v is None or whole(v) and 1 <= v <= 10**9, "must be from 1 to 1000000000"),
    "batch_size": (lambda v: whole(v) and 2 <= v <= 2**16 and v % 2 == 0,
                   "must be an even number from 2 to 65536 (half real, half generated images)"),
    "latent_dim": (lambda v: whole(v) and 1 <= v <= 2**16, "must be from 1 to 65536"),
    "width": (lambda v: finite(v) and 0 < v <= 64, "must be positive, at most 64"),
    "lr": (lambda v: finite(v) and 0 < v <= 1, "must be positive, at most 1"),
    "lr_d": (lambda v: finite(v) and 0 < v <= 1, "must be positive, at most 1"),
    "lr_g": (lambda v: finite(v) and 0 < v <= 1, "must be positive, at most 1"),
    "beta1": (lambda v: finite(v) and 0 <= v < 1, "must be in [0, 1)"),
    "beta2": (lambda v: finite(v) and 0 <= v < 1, "must be in [0, 1)"),
    "dropout": (lambda v: finite(v) and 0 <= v < 1, "must be in [0, 1)"),
    "d_steps": (lambda v: whole(v) and 1 <= v <= 1000, "must be from 1 to 1000"),
    "warmup_steps": (lambda v: whole(v) and 0 <= v <= 10**9, "must be from 0 to 1000000000"),
    "label_smoothing": (lambda v: finite(v) and 0 <= v < 0.5, "must be in [0, 0.5)"),
    "ema": (lambda v: finite(v) and 0 <= v < 1, "must be in [0, 1) (0 turns it off)"),
    "cpu_replicas": (lambda v: whole(v) and 0 <= v <= 64, "must be from 0 to 64"),
    "seed": (lambda v: whole(v) and 0 <= v < 2**32, "must be a whole number from 0 to 4294967295"),
    "architecture": (lambda v: v in ARCHITECTURES, f"must be one of {', '.join(ARCHITECTURES)}"),
    "loss": (lambda v: v in LOSSES, f"must be one of {', '.join(LOSSES)}"),
    "precision": (lambda v: v in PRECISIONS or v == "auto", f"must be auto or one of {', '.join(PRECISIONS)}"),
    "batch_norm": (lambda v: type(v) is bool, "must be true or false"),
    "conditional": (lambda v: type(v) is bool, "must be true or false"),
    "spectral_norm": (lambda v: type(v) is bool, "must be true or false"),
    "flip": (lambda v: type(v) is bool, "must be true or false"),
    "augment": (lambda v: type(v) is str and valid_policy(v),
                f"must be names from {', '.join(AUGMENTATIONS)}, or {ADAPTIVE} alone"),
    "classes": (lambda v: v is None or type(v) is list and len(v) > 0 and all(whole(c) and c >= 0 for c in v),
                "must be a list of class numbers, or null for all"),
    "image_size": (lambda v: whole(v) and v in IMAGE_SIZES, f"must be one of {', '.join(map(str, IMAGE_SIZES))}"),
    "class_names": (lambda v: v is None or type(v) is list and 0 < len(v) == len(set(v))
                    and all(type(name) is str and name for name in v), "must be a list of distinct names, or null"),
    "data": (lambda v: v is None or type(v) is str and v != "", "must be a path, or null"),
    "preset": (lambda v: type(v) is str, "must be a preset name"),
}


def valid_policy(text):
    try:
        parse_policy(text)
        return True
    except ValueError:
        return False


def check_numbers(args):
    """Refuse nonsense values typed on the command line, with a message naming the flag;
    and device flags (with TF_CONFIG) that cannot work together (machinery/cluster.py)."""
    for key, (ok, rule) in RULES.items():
        value = getattr(args, key, None)
        if value is not None and key not in ("classes", "augment", "data", "class_names") and not ok(value):
            raise RunError(f"--{key.replace('_', '-')} {value}: {rule}")
    if hasattr(args, "strategy"):
        checked(cluster.check_strategy, args)


def checked(check, *arguments):
    """Run one of machinery/cluster.py's checks; its ClusterError becomes our RunError."""
    try:
        check(*arguments)
    except cluster.ClusterError as error:
        raise RunError(str(error)) from None


def check_config_values(config, where):
    """Refuse a config (read back from config.json) with a missing or wrong value."""
    for key in RUN_KEYS:
        ok, rule = RULES[key]
        if key not in config or not ok(config[key]):
            raise RunError(f"{where}: '{key}' {json.dumps(config.get(key))[:40]} {rule}" if key in config
                           else f"{where}: no '{key}'")
    if config["classes"] and max(config["classes"]) >= len(class_names(config)):
        raise RunError(f"{where}: 'classes' {config['classes']} names a class beyond the "
                       f"{len(class_names(config))} the run has")


def check_memory(config):
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    needed = estimated_memory(config)
    if needed > total:
        size = f", --image-size {config['image_size']}" if config["image_size"] != 32 else ""
        raise RunError(f"--width {config['width']}, --latent-dim {config['latent_dim']}, --batch-size "
                       f"{config['batch_size']}{size}: training would need about {needed / 2**30:.0f} GiB of memory, "
                       f"this machine has {total / 2**30:.0f} GiB")


def check_config(config):
    """Refuse option combinations that make no sense together."""
    check_memory(config)
    if config["label_smoothing"] and config["loss"] in SIGN_LABEL_LOSSES:
        raise RunError(f"--label-smoothing {config['label_smoothing']}: only for --loss bce or lsgan; "
                       f"the {config['loss']} loss reads labels as signs, not targets")


def check_new_config(config, args):
    """Refuse a new run's options (presets.run_config) that no run can have, naming the flag."""
    check_config_values(config, "options")
    check_config(config)
    checked(cluster.check_replicas, config, args)  # a batch the replicas cannot share evenly


def read_config(run_dir, flag="--resume"):
    """A run's config.json as a dict (not yet checked value by value)."""
    path = os.path.join(run_dir, "config.json")
    try:  # never through a link, never waiting on a FIFO, never a huge file; too deeply nested: ValueError
        config = read_json(path, MAX_CONFIG_BYTES, "a run's config.json")  # (machinery/safe_files.py)
    except FileNotFoundError:
        raise RunError(f"{flag} {run_dir}: holds no run (no config.json)") from None
    except (OSError, ValueError) as error:  # a folder named config.json, bad JSON, bad UTF-8 ...
        raise RunError(f"{path}: unreadable ({getattr(error, 'strerror', None) or error})") from None
    if not isinstance(config, dict):
        raise RunError(f"{path}: holds a JSON {type(config).__name__}, not a run's options")
    config.setdefault("conditional", CLASSIC["conditional"])  # runs from before --conditional existed
    config.setdefault("image_size", 32)  # runs from before --image-size: CIFAR-10's 32x32, its ten classes
    config.setdefault("class_names", None)
    return config


def one_line(message):
    """A message as the single line the scripts promise (a typed path may hold a line break)."""
    return str(message).replace("\r", "\\r").replace("\n", "\\n")


def resume_config(args):
    """Config of the run to resume; a typed option that contradicts it is an error."""
    check_numbers(args)  # a typed value no run can have is named as such, not as a difference
    config = read_config(args.resume)
    check_config_values(config, os.path.join(args.resume, "config.json"))
    try:
        typed = typed_options(args, class_names(config))  # --classes names the run's own classes
    except OptionError as error:
        raise RunError(str(error)) from None
    check_same_classes(config, args.data or config["data"])
    for key, value in typed.items():
        if key not in RESUME_MAY_CHANGE and value != config.get(key):
            flag = "--" + key.replace("_", "-")
            raise RunError(f"{flag} {value} differs from the run's {config.get(key)} in {args.resume}/config.json; "
                           "a resumed run keeps its config (start a new run to change it)")
        config[key] = value
    check_config(config)
    checked(cluster.check_replicas, config, args)
    return config


def check_same_classes(config, data):
    """Refuse to resume on data whose class folders are not the run's classes: class numbers would change
    meaning (a folder's classes are its sorted subfolders; CIFAR-10's are its ten)."""
    try:
        found = list(data_class_names(data) or [])
    except DataError as error:
        raise RunError(str(error)) from None
    trained = list(config["class_names"] or [])
    if found != trained:
        new, gone = [name for name in found if name not in trained], [name for name in trained if name not in found]
        change = "; ".join(part for part in (new and f"new: {', '.join(new[:5])}", gone and f"gone: {', '.join(gone[:5])}",
                                             not new and not gone and "the same names") if part)
        raise RunError(f"--data {data}: has {described(found)}, the run has {described(trained)} ({change}); "
                       "a resumed run trains on the same classes")


def described(class_names):
    return f"{len(class_names)} class folders" if class_names else "CIFAR-10's classes, or none"


def check_sample_arguments(parser, args, max_side):
    """samples.py's arguments, beyond argparse's own checks: one line (parser.error) for each mistake."""
    for flag, value in (("--rows", args.rows), ("--cols", args.cols)):
        if value is not None and not 1 <= value <= max_side:
            parser.error(f"{flag} {value}: must be from 1 to {max_side}")
    if args.seed < 0:
        parser.error(f"--seed {args.seed}: must be 0 or more")
    for flag, value in (("run_dir", args.run_dir), ("--out", args.out), ("--individual", args.individual),
                        ("--progress", args.progress), ("--features", args.features), ("--data", args.data)):
        if value == "":
            parser.error(f"{flag}: empty path")
    for flag, value, used in (("--features", args.features, args.nearest), ("--data", args.data, args.nearest),
                              ("--individual", args.individual, not (args.nearest or args.progress))):
        if value and not used:  # refused, rather than silently unused
            parser.error(f"{flag} {value}: only with --nearest" if flag != "--individual" else
                         f"{flag} {value}: not with --nearest or --progress, which draw no single images")
    if args.classes is not None:
        # The names become class numbers once the run's config (its class names) is read: samples.chosen_classes.
        args.classes = [name.strip() for name in ",".join(args.classes).split(",") if name.strip()]
        if not args.classes:
            parser.error("--class: name at least one class")
