"""The run directory: checking options, then starting or resuming a run.

`train.py` calls `check_run(args, config)`, which refuses bad input *before*
anything is written (so a mistake never damages an earlier run), and needs no
TensorFlow, so it answers a mistake at once. Starting and resuming the run are
machinery/session.py; saving it, machinery/callbacks.py.
"""
import fcntl
import glob
import json
import os
import shlex
import shutil
import stat
import tempfile
import time

from machinery import checkpoint, run_files, write_failures
from machinery.safe_files import NotRegularFile, kind_of, open_regular
from defDATA import real_images_per_step
from scoring.features import DEFAULT_FEATURES, FEATURE_CHOICES, check_feature_spec
from scoring.statistics import EvalError, check_enough
from machinery import options
from machinery.options import (RunError, add_device_arguments, check_new_config, check_not_a_link,  # noqa: F401
                               check_numbers, check_utf8_name, check_writable_folder)  # RunError: train.py's

RUN_FOLDERS = ("progress", checkpoint.CHECKPOINT_DIR, "tensorboard")  # the folders a run writes into
WEIGHT_FILES = (checkpoint.GENERATOR_WEIGHTS, checkpoint.EMA_WEIGHTS, checkpoint.BEST_WEIGHTS,
                checkpoint.DISCRIMINATOR_WEIGHTS)
OUTPUT_FILES = ("config.json", "metrics.csv", "losses.png", "eval.json", *WEIGHT_FILES)  # read or rewritten
MIN_FREE_BYTES = 200 * 2**20  # a checkpoint of the classic model is ~25 MB; leave room for several
DEFAULT_RUN_DIR = "runs/cifar10"  # train.py --out
# --dry-run: a smoke test of every part in seconds, into a temporary folder.
DEFAULT_EVAL_SAMPLES = 2000  # train.py --eval-every: images per score, unless the features need more
DRY_RUN = {"epochs": 2, "steps_per_epoch": 2, "batch_size": 32, "images": 256}


def add_run_arguments(p):
    """train.py's flags for the run folder, its checkpoints and its in-training score, and for where it trains
    (machinery/options.py: --jit-compile, --strategy, --cpu-replicas); all may change when resuming."""
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its newest checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run directory at --out")
    p.add_argument("--checkpoint-every", type=int, default=0,
                   help="also checkpoint every N steps (default: 0, at epoch ends only)")
    p.add_argument("--keep", type=int, default=2, help="how many of the newest checkpoints to keep (default: 2)")
    p.add_argument("--eval-every", type=int, default=0,
                   help="every N epochs, score the generator (Fréchet distance) into metrics.csv (default: 0, never)")
    p.add_argument("--eval-samples", type=int,
                   help="generated and real images per score; more is steadier but slower (default: "
                   f"{DEFAULT_EVAL_SAMPLES}, or one more than the features when they are more: 2049 for inception)")
    p.add_argument("--features", default=DEFAULT_FEATURES,
                   help=f"feature network for --eval-every: {FEATURE_CHOICES} (default: {DEFAULT_FEATURES})")
    add_device_arguments(p)


def check_new_run_dir(run_dir, overwrite):
    """Refuse to clobber an existing run, and make sure we can write here."""
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise RunError(f"--out {run_dir}: exists and is not a folder")
    if os.path.isdir(run_dir) and os.listdir(run_dir):
        if not overwrite:
            raise RunError(f"--out {run_dir}: already exists and is not empty "
                           "(use --resume to continue it, or --overwrite to replace it)")
        if not os.path.exists(os.path.join(run_dir, "config.json")):
            raise RunError(f"--out {run_dir}: --overwrite refused, this folder does not look like a run "
                           "(no config.json)")
        check_config_is_a_runs(run_dir)
        foreign = run_files.foreign_file(run_dir)
        if foreign:  # --overwrite removes only what this project wrote
            raise RunError(f"--out {run_dir}: --overwrite refused, {foreign} was not written by train.py "
                           "(move it away, or choose another --out)")
    # The only sure test of "can we write here" is to try, so create the folder
    # and a probe file, then remove what we made: nothing is left if a later
    # check fails.
    created, folder = [], os.path.abspath(run_dir)  # folders the probe creates, deepest first
    while not os.path.exists(folder):
        created.append(folder)
        folder = os.path.dirname(folder)
    probe = os.path.join(run_dir, ".write-probe")
    try:
        os.makedirs(run_dir, exist_ok=True)
        with open(probe, "w") as file_object:
            file_object.write("probe")
        os.remove(probe)
        free = shutil.disk_usage(run_dir).free
    except OSError as error:
        raise RunError(f"--out {run_dir}: not writable ({error.strerror})") from None
    finally:
        for folder in created:
            if os.path.isdir(folder) and not os.listdir(folder):
                os.rmdir(folder)
    if free < MIN_FREE_BYTES:
        raise RunError(f"--out {run_dir}: only {free >> 20} MB free on that disk, "
                       f"a run needs at least {MIN_FREE_BYTES >> 20} MB")


def check_config_is_a_runs(run_dir):
    """Refuse --overwrite of a folder whose config.json is not a run's: a file's name alone does not make
    it this project's, and a person's own config.json is never replaced."""
    try:
        options.check_config_values(options.read_config(run_dir, "--out"), "config.json")
    except RunError as error:
        reason = str(error).split(": ", 1)[-1]  # without the path, which the message names already
        raise RunError(f"--out {run_dir}: --overwrite refused, its config.json is not a run's ({reason}); "
                       "move it away, or choose another --out") from None


def lock_run_dir(run_dir):
    """Hold an exclusive lock on the run directory while training.

    Two trainers writing one run directory would interleave their checkpoints.
    The operating system drops the lock when the process ends, even on a kill.
    """
    path = os.path.join(run_dir, ".lock")
    try:  # never "w": that truncates, and would write through a link named .lock into its target
        lock = open(open_regular(path, os.O_WRONLY | os.O_CREAT), "w")
    except NotRegularFile as error:
        raise RunError(f"{path}: {error.strerror}; this run's lock must be a plain file (move it away)") from None
    except OSError as error:
        raise RunError(f"{run_dir}: cannot write in this run directory ({error.strerror})") from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise RunError(f"{run_dir}: another train.py is training in this run directory right now") from None
    return lock


def check_run_paths(run_dir):
    """Refuse a run whose own paths are not plain files and folders of its own, before anything is written.

    A link named progress/ or metrics.csv would have the run write (or rewrite, or prune) files
    wherever it points; a FIFO or a device named like a run file would make a read wait for ever.
    The run's folders must be folders, its files regular files; inside its folders, which only
    the project writes, nothing may be a link or a special file.
    """
    for name in RUN_FOLDERS + OUTPUT_FILES:
        path = os.path.join(run_dir, name)
        if not os.path.lexists(path):
            continue
        wanted = stat.S_ISDIR if name in RUN_FOLDERS else stat.S_ISREG
        refuse_unless(path, wanted, f"a run writes its {name} there")
        for folder, subfolders, names in os.walk(path) if wanted is stat.S_ISDIR else ():
            for entry in subfolders + names:  # os.walk lists a link to a folder among the folders
                entry_path = os.path.join(folder, entry)
                refuse_unless(entry_path, lambda mode: stat.S_ISDIR(mode) or stat.S_ISREG(mode),
                              "only the project writes in this folder")


def refuse_unless(path, test, why):
    """Raise RunError naming `path` and what it is, unless test(its own st_mode) holds."""
    mode = os.lstat(path).st_mode
    if not test(mode):
        what = "is not a folder" if test is stat.S_ISDIR and not stat.S_ISLNK(mode) else kind_of(mode)
        raise RunError(f"{path}: {what}; {why} (move it away)")


def trained_files(run_dir):
    """What in run_dir shows that it has trained, though no checkpoint is left to resume from:
    weights, scores, any checkpoint folder (damaged ones too), more than one epoch's grid. A run
    killed before its first checkpoint holds none of these, only its config.json, TensorBoard
    points of its first steps and at most its first epoch's grid (a kill just before the checkpoint)."""
    found = [name for name in WEIGHT_FILES + ("eval.json",) if os.path.lexists(os.path.join(run_dir, name))]
    folder = os.path.join(run_dir, checkpoint.CHECKPOINT_DIR)
    if os.path.isdir(folder):  # a half-written first checkpoint (.tmp-*) is not training to keep
        found += [f"{checkpoint.CHECKPOINT_DIR}/{name}" for name in sorted(os.listdir(folder))
                  if not name.startswith(".tmp-")]
    grids = glob.glob(os.path.join(glob.escape(run_dir), "progress", "epoch_*.png"))
    return found + ([f"{len(grids)} progress grids"] if len(grids) > 1 else [])


def check_room_to_save(run_dir, checkpoint_path):
    """Refuse to resume onto a disk without room for the next save: as much as the checkpoint
    resumed from and the weights files beside it take (write_failures.py says why it matters)."""
    files = [os.path.join(checkpoint_path, name) for name in os.listdir(checkpoint_path)]
    files += [os.path.join(run_dir, name) for name in WEIGHT_FILES if os.path.isfile(os.path.join(run_dir, name))]
    try:
        write_failures.check_free_space(run_dir, sum(os.lstat(path).st_size for path in files))
    except OSError as error:
        raise RunError(f"--resume {run_dir}: {error.strerror}. Free some space, then run this again") from None


def resume_config(args):
    """The config of the run to resume (its config.json; a typed option may only change what may change),
    once the run's own paths are known to be plain files and folders: a link is never read through."""
    check_not_a_link("--resume", args.resume)  # the run folder itself: never read or written through a link
    check_run_paths(args.resume)
    return options.resume_config(args)


def check_enough_images(config, count):
    """Every epoch must have at least one step."""
    needed = real_images_per_step(config)
    if needed > count:
        flags = f"--batch-size {config['batch_size']}" + (f" with --d-steps {config['d_steps']}"
                                                          if config["d_steps"] > 1 else "")
        where = f" in --data {config['data']}" if config["data"] else ""
        raise RunError(f"{flags}: needs {needed} real images per step, but there are only {count}{where}")


def apply_dry_run(args):
    """--dry-run: DRY_RUN's tiny epochs, into a fresh folder in the system's temporary folder (created
    only once every check has passed). Checked first, before its tiny sizes replace the typed ones: a
    refusal then names what the user typed, not --dry-run's own --batch-size."""
    refuse_dry_run_into_a_run(args)
    args.epochs, args.steps_per_epoch = DRY_RUN["epochs"], DRY_RUN["steps_per_epoch"]
    args.batch_size = min(args.batch_size or DRY_RUN["batch_size"], DRY_RUN["batch_size"])
    args.out = args.out or os.path.join(tempfile.gettempdir(),
                                        f"gan-dry-run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")


def refuse_dry_run_into_a_run(args):
    """A smoke test must never replace a trained run (--overwrite) nor add its 2 tiny epochs to one (--resume)."""
    for flag in ("overwrite", "resume"):
        if args.dry_run and getattr(args, flag):
            raise RunError(f"--dry-run: not with --{flag}; a smoke test writes a new folder, never into a run")


def check_paths(args):
    """Refuse empty paths (never "not given"), --dry-run into an existing run, a --features file that
    cannot be a feature network, and --eval-samples too few for its features (where their size is known
    before TensorFlow loads: the FID network and .tflite files)."""
    for flag in ("data", "out", "resume", "features"):
        if getattr(args, flag) == "":
            raise RunError(f"--{flag}: empty path")
    refuse_dry_run_into_a_run(args)
    if args.eval_every:
        try:
            feature_size = check_feature_spec(args.features)
            if args.eval_samples is None:  # a Fréchet distance needs more images than features
                args.eval_samples = max(DEFAULT_EVAL_SAMPLES, (feature_size or 0) + 1)
            if feature_size:
                check_enough(args.eval_samples, feature_size, "--eval-samples")
        except (ValueError, EvalError) as error:
            raise RunError(str(error)) from None


class Plan:
    """What check_run decided: where, with which config, from which checkpoint."""

    def __init__(self, run_dir, config, found, lock, chief_dir):
        self.run_dir, self.config, self.found, self.lock = run_dir, config, found, lock
        # The run directory the chief writes. A multi-worker helper writes into
        # a private temporary folder instead (run_dir), removed at the end.
        self.chief_dir, self.helper = chief_dir, run_dir != chief_dir


def check_run(args, config):
    """Check the options (`config`: presets.run_config's, or resume_config's on --resume) and the run
    folder; writes nothing. Returns a Plan."""
    check_numbers(args)
    check_paths(args)
    lock, found = None, None
    # Under --strategy multi-worker only the chief writes the run directory; the
    # other workers train in step with it and write into a private temporary
    # folder (the usual tf.distribute recipe), so they never race on files.
    helper = args.strategy == "multi-worker" and not is_chief()
    check_not_a_link("--resume" if args.resume else "--out", args.resume or args.out or DEFAULT_RUN_DIR)
    check_utf8_name("--resume" if args.resume else "--out", args.resume or args.out or DEFAULT_RUN_DIR)
    if args.resume:
        check_run_paths(args.resume)  # links and special files: refused, never written through or read
        run_dir = args.resume
        if not helper:
            for folder in [run_dir] + [os.path.join(run_dir, name) for name in RUN_FOLDERS]:
                if os.path.isdir(folder):
                    check_writable_folder("--resume", folder)
        trained = [] if checkpoint.list_checkpoints(run_dir) else trained_files(run_dir)
        if trained:  # starting again from step 0 would overwrite them
            raise RunError(f"--resume {run_dir}: holds trained weights ({', '.join(trained[:3])}) but no "
                           "checkpoint to continue from; training it again would overwrite them. Draw from it "
                           "with samples.py, or train a new run with --out NEW_FOLDER")
        lock = None if helper else lock_run_dir(run_dir)
        found = checkpoint.find_latest_checkpoint(run_dir)
        if found is None and checkpoint.list_checkpoints(run_dir):
            raise RunError(f"--resume {run_dir}: no intact checkpoint in {run_dir}/checkpoints "
                           "(the damaged ones are left as they are)")
        if found is None:
            print(f"{run_dir} has no checkpoint yet (it stopped before its first): "
                  "starting it from its config.json, nothing is lost", flush=True)
        elif args.epochs <= found[1]["epoch"]:
            raise RunError(f"--epochs {args.epochs}: the run already has {found[1]['epoch']} epochs; ask for more")
        elif not helper:
            check_room_to_save(run_dir, found[0])
    else:
        check_new_config(config, args)
        run_dir = args.out or DEFAULT_RUN_DIR
        if not helper:
            check_new_run_dir(run_dir, args.overwrite)
            if args.overwrite and os.path.isdir(run_dir):
                lock_run_dir(run_dir).close()  # never delete a run that is training right now
    chief_dir = run_dir
    if helper:
        run_dir = tempfile.mkdtemp(prefix="gan-worker-")
    return Plan(run_dir, config, found, lock, chief_dir)


def is_chief():
    """True on the one worker that writes the run's files: the "chief" task, or
    worker 0 of a cluster without one, or this process when there is no TF_CONFIG."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task = config.get("task")
    if not task:
        return True
    if "chief" in config.get("cluster", {}):
        return task["type"] == "chief"
    return task["type"] == "worker" and task["index"] == 0


def shell_path(path):
    """`path` as a shell word that pastes safely: quoted, and "./-x" for a relative "-x", which a
    command would otherwise read as options."""
    return shlex.quote("./" + path if path.startswith("-") else path)


def resume_command(run_dir):
    """The command that resumes run_dir, quoted so that it pastes safely into a shell."""
    return f"python train.py --resume {shell_path(run_dir)}"
