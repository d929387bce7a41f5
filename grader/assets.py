"""The weights and datasets graded kernels load, fetched by the grader before they run.

A graded kernel has no network and an empty, private home (grader/sandbox.py), so it cannot
download ImageNet weights or a dataset, and it never sees ``COURSE_ASSETS``. Instead, outside
the sandbox and once per grading host, :func:`fetch` gets every asset the notebooks load in
the kernels' profile: from the offline mirror when ``COURSE_ASSETS`` is set, else by the
course's own downloads, into the grading host's course cache (``COURSE_CACHE``, else
``~/.cache/keras-transfer-course``):

* each base's no-top ImageNet weights file, into ``<cache>/keras/models/``;
* each dataset folder, into ``<cache>/downloads/<name>/`` (:func:`helpers.assets.dataset_dir`);
* for the ``full`` profile, TFDS ``cats_vs_dogs``, prepared in ``TFDS_DATA_DIR`` (else
  ``<cache>/tensorflow_datasets``).

Each kernel then finds them where the course's online code looks, through read-only binds:
the weights in its Keras cache (``KERAS_HOME=/tmp/.keras``), the datasets in its course
cache (``/tmp/course-cache/downloads``), TFDS data in ``TFDS_DATA_DIR=/tmp/tensorflow_datasets``.
A missing asset is named before any kernel starts, with where it was looked for and how to
get it.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from helpers import assets, config, folders, models

#: Inside the sandbox: the kernel's home is its private /tmp (grader/sandbox.py).
KERNEL_HOME = "/tmp"
KERNEL_KERAS_HOME = f"{KERNEL_HOME}/.keras"
KERNEL_COURSE_CACHE = f"{KERNEL_HOME}/course-cache"
KERNEL_TFDS_DATA_DIR = f"{KERNEL_HOME}/tensorflow_datasets"
#: Notebook 04 demonstrates BatchNormalization on this base and dataset, named in its code,
#: whatever the profile (tests/test_grading_assets.py finds every name the notebooks use).
DEMONSTRATION_BASE, DEMONSTRATION_DATASET = "mobilenet_v1_025", "cats_and_dogs_filtered"
TFDS_PREFIX = "tfds:"


@dataclass
class KernelAssets:
    """What a graded kernel reads: host path -> path inside the sandbox, read only."""

    profile: str
    binds: dict[Path, str] = field(default_factory=dict)


def kernel_profile_name(gpu_devices: bool) -> str:
    """The profile graded kernels run: ``COURSE_PROFILE``, else ``full`` when the sandbox is
    given the GPU's devices, else ``quick`` (a kernel without them sees no GPU)."""
    return os.environ.get(config.PROFILE_ENV) or ("full" if gpu_devices else "quick")


def loaded_assets(profile: config.Profile) -> tuple[list[str], list[str]]:
    """The bases whose ImageNet weights, and the datasets, the notebooks load in ``profile``."""
    bases = {profile.base, profile.logos.base, DEMONSTRATION_BASE}
    datasets = {profile.dataset, DEMONSTRATION_DATASET, folders.LOGOS}
    return sorted(bases), sorted(datasets)


def fetch_weights(base: str) -> Path:
    """The base's no-top ImageNet weights file: the mirror's, else downloaded into the
    course cache (what Keras itself downloads, from the same URL)."""
    spec = models.BASES[base]
    mirror = assets.mirror_root()
    if mirror is not None:
        assets.require_keras_weights(spec.weights_file, spec.weights_url)
        return mirror / "keras" / "models" / spec.weights_file
    import keras

    keras_home = assets.cache_root() / "keras"
    keras_home.mkdir(parents=True, exist_ok=True)  # Keras uses /tmp for a cache it lacks
    with assets.explain_failed_download(
            f"{spec.label}'s ImageNet weights", spec.weights_url,
            assets.offline_hint(f"keras/models/{spec.weights_file}")):
        return Path(keras.utils.get_file(spec.weights_file, spec.weights_url,
                                         cache_subdir="models",
                                         cache_dir=str(keras_home)))


def fetch_tfds(name: str) -> Path:
    """TFDS ``name`` prepared in ``TFDS_DATA_DIR`` (else ``<cache>/tensorflow_datasets``);
    returns that folder."""
    import tensorflow_datasets as tfds

    from helpers.data import TFDS_URL

    data_dir = Path(os.environ.get("TFDS_DATA_DIR") or assets.cache_root() / "tensorflow_datasets")
    with assets.explain_failed_download(f"TFDS {name}", TFDS_URL, (
            f"prepare it on a machine with internet (tfds.load({name!r})) and copy its "
            f"folder into {data_dir}, or set TFDS_DATA_DIR to a folder that holds it")):
        tfds.builder(name, data_dir=str(data_dir)).download_and_prepare()
    return data_dir


@lru_cache(maxsize=None)
def fetch(profile_name: str) -> KernelAssets:
    """Every asset the notebooks load in the profile, fetched once per grading host (a lock
    keeps two workers of one host from downloading the same file at once).

    Raises:
        helpers.assets.MissingAssetError: an asset is not in the offline mirror.
        helpers.assets.DownloadFailedError: a download failed.
    """
    if profile_name not in config.PROFILES:
        raise ValueError(f"unknown course profile {profile_name!r} ({config.PROFILE_ENV}); "
                         f"choose one of {sorted(config.PROFILES)}")
    bases, datasets = loaded_assets(config.PROFILES[profile_name])
    kernel = KernelAssets(profile_name)
    cache = assets.cache_root()
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".grading-assets.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for base in bases:
            weights = fetch_weights(base).resolve()
            kernel.binds[weights] = f"{KERNEL_KERAS_HOME}/models/{weights.name}"
        for dataset in datasets:
            if dataset.startswith(TFDS_PREFIX):
                kernel.binds[fetch_tfds(dataset.removeprefix(TFDS_PREFIX)).resolve()] = \
                    KERNEL_TFDS_DATA_DIR
            else:
                kernel.binds[assets.dataset_dir(dataset).resolve()] = \
                    f"{KERNEL_COURSE_CACHE}/downloads/{dataset}"
    return kernel
