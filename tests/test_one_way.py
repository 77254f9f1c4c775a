"""The lesson can be read without the machinery: the GAN modules import nothing from machinery/.

machinery/ (run folders, checkpoints, callbacks, devices) imports the GAN
modules, never the other way round, so a learner reading defDATA.py, the
networks, defGAN.py, the losses or the score formulas never has to open it.
"""
import glob
import os
import subprocess
import sys

from conftest import ROOT

GAN_MODULES = ["defDATA", "gene_keras", "discri_keras", "defGAN", "losses", "augment", "ema", "presets",
               "scoring.scores"]
MAX_TOP_LEVEL_FILES = 11  # the six scripts, evaluate.py, and what a learner reads as GAN knowledge


def machinery_modules_loaded_by(modules):
    """The machinery modules that importing `modules` loads, in a fresh Python."""
    code = (f"import sys\nimport {', '.join(modules)}\n"
            "print(sorted(name for name in sys.modules if name.split('.')[0] == 'machinery'))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-1]


def test_gan_modules_import_no_machinery():
    assert machinery_modules_loaded_by(GAN_MODULES) == "[]"


def test_the_check_sees_a_module_that_does():
    assert "machinery.callbacks" not in machinery_modules_loaded_by(["train"])  # loaded only once training starts
    assert "machinery.runs" in machinery_modules_loaded_by(["train"])


def test_the_top_level_stays_small():
    files = sorted(os.path.basename(path) for path in glob.glob(os.path.join(ROOT, "*.py")))
    assert len(files) <= MAX_TOP_LEVEL_FILES, files
