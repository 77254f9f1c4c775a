"""Loading weights into a model that must take all of them, quietly.

Keras loads what fits a .weights.h5 file and warns about each part it skips
("Skipping ..."), 10 to 200 lines before its error, or instead of one: a
skipped layer would keep its fresh (random) values. For the scripts, weights
that do not fit are one line of error, so the warnings are caught here, and a
skipped part is an error too. checkpoint.load_weights does the same for a
resumed run, where a skipped optimizer is let pass.
"""
import contextlib
import warnings


class WeightsMismatch(ValueError):
    """The weights file does not fit the model; its text is one short line."""


def skipped_parts(caught, allow_optimizer=False):
    """The "Skipping ..." messages among the caught warnings (an optimizer's too, unless allowed)."""
    messages = [str(warning.message) for warning in caught]
    return [message for message in messages if message.startswith("Skipping") and not (
        allow_optimizer and message.startswith("Skipping variable loading for optimizer"))]


@contextlib.contextmanager
def all_weights_or_nothing():
    """Around a load_weights call: Keras' warnings are kept from the screen, and its error, or a part it
    skipped, raises WeightsMismatch with the first line of what Keras said."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except Exception as error:  # ValueError, KeyError, OSError ... whatever a wrong file makes Keras raise
            first_line = (str(error).strip().splitlines() or [""])[0][:150]
            raise WeightsMismatch(f"{type(error).__name__}: {first_line}") from None
    skipped = skipped_parts(caught)
    if skipped:
        raise WeightsMismatch(f"Keras skipped a part: {skipped[0].splitlines()[0][:120]}")
