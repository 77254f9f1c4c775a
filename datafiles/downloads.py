"""Downloading a file once, checked against its published hash, with no TensorFlow.

Keras' own get_file needs TensorFlow, which takes seconds to start; the
scripts download what they need (the CIFAR-10 archive, InceptionV3's weights)
before that, so that an offline machine gets one line at once.
"""
import hashlib
import os
import urllib.request


class DownloadError(Exception):
    """A download that failed, described in one line."""


def download(url, path, algorithm, expected, what):
    """Return path, downloading url there first if it is not there yet.

    The file is written under a temporary name and renamed when complete and
    its hash matches, so a failed or interrupted download leaves nothing.
    """
    if os.path.isfile(path):
        return path
    folder = os.path.dirname(path)
    partial, digest = os.path.join(folder, f".tmp-{os.getpid()}-{os.path.basename(path)}"), hashlib.new(algorithm)
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            # Said, and the folder made, only once the server answers: offline, the error is the one line printed.
            print(f"downloading {what} into {folder}", flush=True)
            os.makedirs(folder, exist_ok=True)
            with open(partial, "wb") as file_object:
                for block in iter(lambda: response.read(1 << 20), b""):
                    digest.update(block)
                    file_object.write(block)
        if expected is not None and digest.hexdigest() != expected:  # None: the caller checks the content
            raise OSError("the download does not match its published checksum")
        os.replace(partial, path)
    except OSError as error:  # no network, a proxy's error page, a full disk ... (URLError is an OSError)
        reason = getattr(error, "reason", None) or getattr(error, "strerror", None) or error
        raise DownloadError(f"could not download {what} ({reason})") from None
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return path
