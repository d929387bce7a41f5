"""Where weights and datasets come from: the official downloads, or an offline mirror.

With internet nothing needs setting: Keras downloads ImageNet weights into its cache
(``~/.keras``) and datasets come from their official URLs.

Without internet, set ``COURSE_ASSETS`` to a folder laid out like the course mirror::

    keras/models/<weights file>.h5        same layout as KERAS_HOME
    datasets/<dataset name>/...           extracted datasets

Then :func:`use_offline_assets` points Keras at a cache folder of symbolic links to the
mirror (the mirror itself is never written to), so ``weights="imagenet"`` loads from it,
and :func:`dataset_dir` returns the mirror's copy of a dataset instead of downloading it.
A downloaded dataset is extracted once, into the course cache (``COURSE_CACHE``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sys
import urllib.error
from pathlib import Path
from typing import Iterator

ASSETS_ENV = "COURSE_ASSETS"
CACHE_ENV = "COURSE_CACHE"

#: Official download of each dataset the course uses, and the folder inside the archive.
DATASET_URLS = {
    "cats_and_dogs_filtered": "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip",
    "flickr_logos_27_dataset": "http://image.ntua.gr/iva/datasets/flickr_logos/flickr_logos_27_dataset.tar.gz",
}


class MissingAssetError(FileNotFoundError):
    """An offline asset is not in the mirror. The message says what, where, and how to get it."""

    def __init__(self, name: str, looked_in: Path, how_to_get: str):
        self.name = name
        self.looked_in = looked_in
        super().__init__(
            f"{name} is not in the offline mirror.\n"
            f"  looked for: {looked_in / name}\n"
            f"  ({ASSETS_ENV}={os.environ.get(ASSETS_ENV, '')})\n"
            f"  how to get it: {how_to_get}"
        )


class DownloadFailedError(ConnectionError):
    """A download failed, most often for want of internet. The message says what failed,
    from which URL, and how to work offline instead."""


#: Mirror layout, for messages: where a copy of each kind of asset goes under COURSE_ASSETS.
MIRROR_LAYOUT = "keras/models/<weights file>.h5 and datasets/<dataset name>/"


def _is_download_failure(error: BaseException) -> bool:
    """Keras reports a failed download as a bare Exception ("URL fetch failure on ...");
    TFDS lets the network error through. Other OSErrors (a corrupt weights file in the
    cache, a missing folder) are not download failures and keep their own message."""
    import requests

    return "URL fetch failure" in str(error) or isinstance(
        error, (urllib.error.URLError, socket.gaierror, ConnectionError, TimeoutError,
                requests.RequestException))


@contextlib.contextmanager
def explain_failed_download(what: str, url: str, offline: str) -> Iterator[None]:
    """Turn a failed download inside the block into a :class:`DownloadFailedError` that
    names ``what``, ``url`` and ``offline`` (how to do without the download)."""
    try:
        yield
    except Exception as error:
        if not _is_download_failure(error):
            raise
        raise DownloadFailedError(
            f"{what} could not be downloaded (no internet?).\n"
            f"  from:  {url}\n"
            f"  error: {type(error).__name__}: {error}\n"
            f"  offline: {offline}"
        ) from error


def offline_hint(mirror_path: str) -> str:
    """How to use the offline mirror instead of a download that failed."""
    return (f"set {ASSETS_ENV} to a copy of the course's asset mirror, a folder laid out as "
            f"{MIRROR_LAYOUT} (this file: {mirror_path}), e.g. "
            f"`{ASSETS_ENV}=/path/to/assets make lab`.")


def mirror_root() -> Path | None:
    """The offline mirror named by ``COURSE_ASSETS``, or None when downloads are used.

    A relative value is resolved against the current folder, which for a notebook is the
    folder its kernel runs in (``workspace/<notebook>/`` in the lab), not the folder
    ``make`` was run from; every ``make`` target makes the value absolute before it starts.

    Raises:
        NotADirectoryError: ``COURSE_ASSETS`` is set but is not a folder. The message names
            the value, the absolute path looked at and, for a relative value, the folder it
            was resolved from.
    """
    value = os.environ.get(ASSETS_ENV)
    if not value:
        return None
    given = Path(value).expanduser()
    root = given.resolve()
    if not root.is_dir():
        looked_at = f"  looked at: {root}\n"
        if not given.is_absolute():
            looked_at += (f"  (a relative path, resolved from the current folder {Path.cwd()}, "
                          f"where this Python runs: a notebook's kernel runs in the notebook's "
                          f"folder; give an absolute path instead)\n")
        raise NotADirectoryError(
            f"{ASSETS_ENV}={value} is not a folder.\n{looked_at}"
            f"  Point it at the offline mirror (a folder with keras/ and datasets/) by an "
            f"absolute path, e.g. `{ASSETS_ENV}=/path/to/assets make lab`, or unset it to "
            f"download instead."
        )
    return root


def cache_root() -> Path:
    """Folder for run-time caches: ``COURSE_CACHE``, else ``~/.cache/keras-transfer-course``."""
    value = os.environ.get(CACHE_ENV)
    return Path(value).expanduser() if value else Path.home() / ".cache" / "keras-transfer-course"


def use_offline_assets() -> Path | None:
    """Make ``keras.applications`` load ImageNet weights from the mirror, if one is set.

    Links every file of ``<mirror>/keras/models`` into ``<cache>/keras/models`` and sets
    ``KERAS_HOME`` to ``<cache>/keras``. Keras reads ``KERAS_HOME`` once, when it is first
    imported, so if Keras is already imported its cache folder is updated as well.

    Returns:
        The Keras cache folder in use, or None when there is no mirror (downloads are used).
    """
    mirror = mirror_root()
    if mirror is None:
        return None
    keras_home = cache_root() / "keras"
    models = keras_home / "models"
    models.mkdir(parents=True, exist_ok=True)
    for source in sorted((mirror / "keras" / "models").glob("*")):
        link = models / source.name
        if link.is_symlink() and link.resolve() == source.resolve():
            continue
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(source)
    os.environ["KERAS_HOME"] = str(keras_home)
    keras_config = sys.modules.get("keras.src.backend.config")
    if keras_config is not None:
        keras_config._KERAS_DIR = str(keras_home)
    return keras_home


def require_keras_weights(filename: str, origin: str) -> None:
    """Fail early, with a clear message, when offline weights are missing from the mirror.

    Does nothing when downloads are used (no mirror): Keras then fetches ``origin`` itself.
    """
    mirror = mirror_root()
    if mirror is None:
        return
    models = mirror / "keras" / "models"
    if not (models / filename).is_file():
        raise MissingAssetError(
            filename,
            models,
            f"download {origin} on a machine with internet and put it in {models}, "
            f"or unset {ASSETS_ENV} so that Keras downloads it.",
        )


def fetched_dataset_dir(name: str) -> Path:
    """Where a downloaded dataset is kept: ``<COURSE_CACHE>/downloads/<name>``, extracted
    once (``<COURSE_CACHE>/datasets/`` holds what the course derives from datasets). The
    grader binds its own copy there, read only, in each graded kernel."""
    return cache_root() / "downloads" / name


def dataset_dir(name: str) -> Path:
    """The root folder of a dataset: the mirror's copy offline, else the official download,
    extracted once into the course cache (:func:`fetched_dataset_dir`) and read from there.

    Args:
        name: a key of :data:`DATASET_URLS`, for example ``"cats_and_dogs_filtered"``.
    """
    if name not in DATASET_URLS:
        raise KeyError(f"unknown dataset {name!r}; known: {sorted(DATASET_URLS)}")
    url = DATASET_URLS[name]
    mirror = mirror_root()
    if mirror is not None:
        folder = mirror / "datasets"
        if not (folder / name).is_dir():
            raise MissingAssetError(
                name,
                folder,
                f"download {url} on a machine with internet, extract it and put the "
                f"{name}/ folder in {folder}, or unset {ASSETS_ENV} to download it.",
            )
        return folder / name
    fetched = fetched_dataset_dir(name)
    if fetched.is_dir():
        return fetched
    import keras

    fetched.parent.mkdir(parents=True, exist_ok=True)  # Keras uses /tmp for a cache it lacks
    with explain_failed_download(f"dataset {name}", url, offline_hint(f"datasets/{name}/")):
        extracted = Path(keras.utils.get_file(origin=url, extract=True, cache_subdir=".",
                                              cache_dir=str(fetched.parent)))
    # Keras extracts into a folder named after the archive, and again on every call: the
    # dataset is moved to its own name once, and the archive let go.
    (extracted / name if (extracted / name).is_dir() else extracted).rename(fetched)
    for leftover in [extracted, Path(f"{extracted}_archive")]:
        if leftover.is_dir():
            shutil.rmtree(leftover)
        elif leftover.exists():
            leftover.unlink()
    return fetched
