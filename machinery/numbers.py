"""Numbers typed on a command line, read as the user reads them, or refused.

Python's int() and float() read more than a user would call a number: other
scripts' digits (int("\u0663") is 3), fullwidth ones, underscores ("1_000"),
"nan" and "inf"; and "\u00b2".isdigit() is True, yet int("\u00b2") fails. A
number typed on a command line must mean what it looks like, so only ASCII
digits (and the usual float syntax) are read, finite values only.
machinery/options.py's ArgumentParser reads every type=int and type=float
flag with these.
"""
import argparse
import math
import re
import unicodedata

# At most 100 digits: int() refuses more than 4,300 with a traceback, and no flag needs 100.
WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,100}")
REAL_NUMBER = re.compile(r"[+-]?([0-9]{1,100}\.?[0-9]{0,100}|\.[0-9]{1,100})([eE][+-]?[0-9]{1,4})?")


def whole_number(text):
    """argparse type: '42' -> 42; '\u0663', '1_000', '1.0' and the like are refused."""
    too_long(text)
    if not WHOLE_NUMBER.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a whole number in the digits 0-9{odd(text)}")
    return int(text)


def real_number(text):
    """argparse type: '2e-4' -> 0.0002; 'nan', 'inf', '1e999', '\u0661.5' and the like are refused."""
    too_long(text)
    if not REAL_NUMBER.fullmatch(text) or not math.isfinite(float(text)):
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a finite number in the digits 0-9, "
                                         f"like 0.5 or 2e-4{odd(text)}")
    return float(text)


def too_long(text):
    digits = sum(c in "0123456789" for c in text)
    if digits > 100:
        raise argparse.ArgumentTypeError(f"{text[:20]!r}... has {digits} digits, more than any flag takes")


def odd(text):
    """Names the first characters that are not ASCII, which may look like digits but are not read as such."""
    names = [f"U+{ord(c):04X} {unicodedata.name(c, 'unnamed')}" for c in dict.fromkeys(text) if not c.isascii()]
    return f" (it holds {', '.join(names[:2])})" if names else ""
