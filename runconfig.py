"""The options that define a run: presets, typed flags, checks, and config.json.

A run's config is its preset's options (presets.py) with the flags the user
typed on top, checked here before anything is written. `train.py --resume`
reads the config back from RUN_DIR/config.json; a typed option that
contradicts it is refused, because a resumed run must stay the same run.
runfiles.py uses these to start or resume a run.
"""
import json
import os

from augment import parse_policy
from defDATA import DataError, parse_classes
from losses import DECISION_THRESHOLD
from presets import CLASSIC, DEFAULT_PRESET, preset_options

# The options that define a run, stored in config.json: a preset's (see
# presets.py) plus the ones no preset sets.
RUN_OPTIONS = dict(seed=0, classes=None, steps_per_epoch=None, data=None, preset=None,
                   precision="float32")  # float32 measured fastest on CPU (README, "Speed")
RUN_KEYS = list(CLASSIC) + list(RUN_OPTIONS)
# Options that may differ when resuming: where the data lives is not part of the model.
RESUME_MAY_CHANGE = {"data"}

class RunError(Exception):
    """Bad input or an unusable run directory, described in one line."""


def check_numbers(args):
    """Refuse nonsense values with a message naming the flag."""
    rules = [("--epochs", args.epochs, args.epochs > 0, "must be at least 1"),
             ("--keep", args.keep, args.keep >= 1, "must be at least 1"),
             ("--checkpoint-every", args.checkpoint_every, args.checkpoint_every >= 0, "must be 0 or more"),
             ("--eval-every", args.eval_every, args.eval_every >= 0, "must be 0 or more"),
             ("--eval-samples", args.eval_samples, args.eval_samples >= 2, "must be at least 2"),
             ("--steps-per-epoch", args.steps_per_epoch,
              args.steps_per_epoch is None or args.steps_per_epoch > 0, "must be at least 1"),
             ("--batch-size", args.batch_size,
              args.batch_size is None or (args.batch_size >= 2 and args.batch_size % 2 == 0),
              "must be an even number of at least 2 (half real, half generated images)"),
             ("--latent-dim", args.latent_dim, args.latent_dim is None or args.latent_dim > 0, "must be at least 1"),
             ("--width", args.width, args.width is None or args.width > 0, "must be positive"),
             ("--lr", args.lr, args.lr is None or args.lr > 0, "must be positive"),
             ("--lr-d", args.lr_d, args.lr_d is None or args.lr_d > 0, "must be positive"),
             ("--lr-g", args.lr_g, args.lr_g is None or args.lr_g > 0, "must be positive"),
             ("--beta1", args.beta1, args.beta1 is None or 0 <= args.beta1 < 1, "must be in [0, 1)"),
             ("--beta2", args.beta2, args.beta2 is None or 0 <= args.beta2 < 1, "must be in [0, 1)"),
             ("--dropout", args.dropout, args.dropout is None or 0 <= args.dropout < 1, "must be in [0, 1)"),
             ("--d-steps", args.d_steps, args.d_steps is None or args.d_steps >= 1, "must be at least 1"),
             ("--warmup-steps", args.warmup_steps,
              args.warmup_steps is None or args.warmup_steps >= 0, "must be 0 or more"),
             ("--label-smoothing", args.label_smoothing,
              args.label_smoothing is None or 0 <= args.label_smoothing < 0.5, "must be in [0, 0.5)"),
             ("--ema", args.ema, args.ema is None or 0 <= args.ema < 1, "must be in [0, 1) (0 turns it off)")]
    for flag, value, ok, rule in rules:
        if not ok:
            raise RunError(f"{flag} {value}: {rule}")


def given_options(args):
    """The run-defining options the user actually typed (None = not given)."""
    given = {key: getattr(args, key) for key in RUN_KEYS if getattr(args, key, None) is not None}
    if getattr(args, "lr", None) is not None:  # --lr sets both rates; --lr-d / --lr-g still win
        given = dict({"lr_d": args.lr, "lr_g": args.lr}, **given)
    if given.get("augment") is not None:
        try:
            given["augment"] = ",".join(parse_policy(given["augment"]))
        except ValueError as error:
            raise RunError(f"--augment {args.augment}: {error}") from None
    if given.get("classes") is not None:
        try:
            given["classes"] = parse_classes(given["classes"])
        except DataError as error:
            raise RunError(str(error)) from None
    return given


def check_config(config):
    """Refuse option combinations that make no sense together."""
    if config["label_smoothing"] and DECISION_THRESHOLD[config["loss"]] == 0.0:
        raise RunError(f"--label-smoothing {config['label_smoothing']}: only for --loss bce or lsgan; "
                       f"the {config['loss']} loss reads labels as signs, not targets")


def new_config(args):
    """A new run's config: the preset's options, then the flags typed."""
    given = given_options(args)
    name = given.get("preset") or DEFAULT_PRESET
    try:
        config = dict(RUN_OPTIONS, **preset_options(name))
    except KeyError as error:
        raise RunError(f"--preset: {error.args[0]}") from None
    config.update(given, preset=name)
    check_config(config)
    return config


def read_config(run_dir):
    path = os.path.join(run_dir, "config.json")
    try:
        with open(path, encoding="utf-8") as file_object:
            return json.load(file_object)
    except FileNotFoundError:
        raise RunError(f"--resume {run_dir}: holds no run (no config.json)") from None
    except (OSError, ValueError) as error:
        raise RunError(f"{path}: unreadable ({error})") from None


def resume_config(args):
    """Config of the run to resume; a typed option that contradicts it is an error."""
    config = read_config(args.resume)
    if "lr" in config:  # written before separate D and G rates existed
        config.setdefault("lr_d", config["lr"])
        config.setdefault("lr_g", config.pop("lr"))
    config = dict(RUN_OPTIONS, **CLASSIC) | config  # options added since the run began keep classic values
    for key, value in given_options(args).items():
        if key not in RESUME_MAY_CHANGE and value != config.get(key):
            flag = "--" + key.replace("_", "-")
            raise RunError(f"{flag} {value} differs from the run's {config.get(key)} in {args.resume}/config.json; "
                           "a resumed run keeps its config (start a new run to change it)")
        config[key] = value
    return config
