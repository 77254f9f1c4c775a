"""Numbers typed on a command line mean what they look like, or are refused in one line.

Python's int() and float() read more than a user would call a number: other
scripts' digits (int('\u0663') is 3, int('\uff11\uff10') is 10), underscores,
'nan' and 'inf'; and str.isdigit() says True for '\u00b2', which int() then
refuses with a traceback. Every int and float flag of every script takes ASCII
digits only (and standard float syntax), finite values only.
"""
import argparse
import importlib
import os
import sys

import pytest

from conftest import ROOT, run_script
from defDATA import DataError, parse_classes
from machinery import options

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

ODD_WHOLE = ["\u0663", "\u00b2", "\uff11\uff10", "1_000", " 5", "5 ", "0x10", "", "+", "1.0", "1e3",
             "9" * 5000]
ODD_REAL = ["nan", "NaN", "inf", "-inf", "Infinity", "1e999", "\u0661.5", "0.\u0665", "1_0.5", "0x1p-3", "",
            ".", "e5", "1e", "\uff10.\uff15"]


@pytest.mark.parametrize("text, value", [("0", 0), ("42", 42), ("-3", -3), ("+7", 7), ("007", 7)])
def test_whole_numbers_in_ascii_digits_are_read(text, value):
    assert options.whole_number(text) == value


@pytest.mark.parametrize("text", ODD_WHOLE)
def test_other_whole_numbers_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError) as error:
        options.whole_number(text)
    assert "\n" not in str(error.value) and len(str(error.value)) < 200


@pytest.mark.parametrize("text, value", [("0.5", 0.5), ("2e-4", 2e-4), ("-1", -1.0), (".5", 0.5), ("5.", 5.0),
                                         ("1E3", 1000.0), ("+0.25", 0.25)])
def test_real_numbers_in_standard_syntax_are_read(text, value):
    assert options.real_number(text) == value


@pytest.mark.parametrize("text", ODD_REAL)
def test_other_real_numbers_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        options.real_number(text)


def test_the_projects_parser_reads_int_and_float_flags_strictly(capsys):
    parser = options.ArgumentParser()
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--lr", type=float)
    assert vars(parser.parse_args(["--epochs", "12", "--lr", "1e-3"])) == {"epochs": 12, "lr": 1e-3}
    for argv, words in ((["--epochs", "\u0663"], "argument --epochs: '\u0663' is not a whole number"),
                        (["--lr", "nan"], "argument --lr: 'nan' is not a finite number")):
        with pytest.raises(SystemExit) as stopped:
            parser.parse_args(argv)
        assert str(stopped.value.code).startswith(f"error: {words}"), stopped.value.code


def test_the_message_names_a_non_ascii_character():
    with pytest.raises(argparse.ArgumentTypeError, match="U\\+0663 ARABIC-INDIC DIGIT THREE"):
        options.whole_number("\u0663")


@pytest.mark.parametrize("spec", ["\u0663", "\u00b2", "\uff13", "3\u0663"])
def test_class_numbers_are_ascii_digits(spec):
    with pytest.raises(DataError, match="unknown class"):
        parse_classes(spec)


def test_class_numbers_still_read():
    assert parse_classes("3,07, horse") == [3, 7]


# Every script's parser, captured as it parses: each int or float flag must be read strictly.
SCRIPTS = ["train", "samples", "evaluate", "quality", "train_classifier", "throughput", "ema_batchnorm",
           "gpu_check", "fd_curve"]


def captured_parser(module_name, monkeypatch):
    parsers = []

    def capture(self, args=None, namespace=None):
        parsers.append(self)
        raise RuntimeError("captured")

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    module = importlib.import_module(module_name)
    entry = getattr(module, "parse_args", None) or module.main
    monkeypatch.setattr(sys, "argv", [module_name])
    with pytest.raises(RuntimeError, match="captured"):
        entry()
    return parsers[0]


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_number_flag_of_every_script_is_strict(script, monkeypatch):
    parser = captured_parser(script, monkeypatch)
    assert isinstance(parser, options.ArgumentParser), f"{script}: usage block and lenient numbers"
    strict = {int: options.whole_number, float: options.real_number}
    for action in parser._actions:
        if action.type in strict:
            assert parser._registry_get("type", action.type, action.type) is strict[action.type], action.dest


@pytest.mark.parametrize("script, arguments, message", [
    ("train.py", ["--epochs", "\u0663"], "argument --epochs: '\u0663' is not a whole number"),
    ("train.py", ["--ema", "nan"], "argument --ema: 'nan' is not a finite number"),
    ("samples.py", ["runs/none", "--rows", "\u00b2"], "argument --rows: '\u00b2' is not a whole number"),
    ("evaluate.py", ["--real-test", "--n", "\uff11\uff10"], "argument --n: '\uff11\uff10' is not a whole number"),
    ("benchmarks/train_classifier.py", ["--data", "x", "--epochs", "\u0663"], "argument --epochs: '\u0663'"),
    ("benchmarks/quality.py", ["--minutes", "nan"], "argument --minutes: 'nan' is not a finite number"),
    ("benchmarks/quality.py", ["--minutes", "30", "--budgets", "5,\u0661\u0660"], "--budgets 5,\u0661\u0660:"),
    ("benchmarks/fd_curve.py", ["runs/none", "--bogus"], "unrecognized arguments: --bogus"),
    # These two loaded TensorFlow before reading their arguments, whose start-up lines came first.
    ("benchmarks/throughput.py", ["--steps", "\u0663"], "argument --steps: '\u0663' is not a whole number"),
    ("benchmarks/ema_batchnorm.py", ["x", "--data", "x", "--features", "x", "--n", "\u00b2"], "argument --n: '\u00b2'"),
])
def test_a_script_refuses_an_odd_number_in_one_line(script, arguments, message):
    result = run_script(script, *arguments, timeout=120)
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, lines[-5:]
    assert lines[0].startswith(f"error: {message}"), lines[0]


def test_a_number_of_too_many_digits_says_so():
    """It is in the digits 0-9: the message must not say it is not."""
    with pytest.raises(argparse.ArgumentTypeError, match="has 150 digits, more than any flag takes"):
        options.whole_number("9" * 150)
    with pytest.raises(argparse.ArgumentTypeError, match="has 150 digits, more than any flag takes"):
        options.real_number("1" * 149 + ".5")
