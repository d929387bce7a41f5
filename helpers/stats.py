"""How sure a measured accuracy, or a difference of two, is: confidence intervals.

Test and validation splits here hold a few hundred images, so one image moves an accuracy by
a fraction of a point. Before a notebook says "A beats B", it checks that the difference is
larger than what the luck of the draw of images can explain.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np


@dataclass(frozen=True)
class Interval:
    """An estimate with its confidence interval: ``estimate`` in [``low``, ``high``]."""

    estimate: float
    low: float
    high: float
    n: int

    def excludes_zero(self) -> bool:
        """Whether the interval lies wholly above or wholly below 0."""
        return self.low > 0 or self.high < 0

    def __str__(self) -> str:
        return (f"{100 * self.estimate:+.1f} points, 95% interval "
                f"[{100 * self.low:+.1f}, {100 * self.high:+.1f}] on {self.n} images")


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _as_correct(correct) -> np.ndarray:
    values = np.asarray(correct, dtype=bool).reshape(-1)
    if values.size == 0:
        raise ValueError("no predictions to measure: the array of right/wrong answers is empty")
    return values


def accuracy_interval(correct, confidence: float = 0.95) -> Interval:
    """Accuracy of one model and its Wilson score interval.

    Args:
        correct: one True (right) or False (wrong) per image.
        confidence: coverage of the interval.
    """
    values = _as_correct(correct)
    n, z = values.size, _z(confidence)
    p = float(values.mean())
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(p, float(centre - half), float(centre + half), n)


def paired_difference(correct_a, correct_b, confidence: float = 0.95) -> Interval:
    """Accuracy of model A minus that of model B on the same images, with its interval.

    The two models answered the same images: images both get right, or both get wrong, say
    nothing about which is better, and the images they disagree on decide it. When those are
    few, the textbook (Wald) interval is too narrow, and zero-wide when there are none. This
    is Newcombe's hybrid score interval for paired proportions (Newcombe 1998, "method 10"):
    each accuracy's Wilson interval, combined with the correlation of the two models'
    answers. It keeps close to its 95% coverage down to a handful of disagreements, where
    the Wald interval falls to under 90% (tests/test_stats.py measures both).

    Args:
        correct_a, correct_b: one True/False per image, in the same image order.
        confidence: coverage of the interval.

    Raises:
        ValueError: the two arrays do not have one answer per image each.
    """
    a, b = _as_correct(correct_a), _as_correct(correct_b)
    if a.shape != b.shape:
        raise ValueError(f"the two models answered {a.size} and {b.size} images: compare "
                         "them on the same images, in the same order")
    both, only_a = int(np.sum(a & b)), int(np.sum(a & ~b))
    only_b, neither = int(np.sum(~a & b)), int(np.sum(~a & ~b))
    score_a, score_b = accuracy_interval(a, confidence), accuracy_interval(b, confidence)
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    phi = (both * neither - only_a * only_b) / np.sqrt(margins) if margins else 0.0
    below_a, above_a = score_a.estimate - score_a.low, score_a.high - score_a.estimate
    below_b, above_b = score_b.estimate - score_b.low, score_b.high - score_b.estimate
    difference = score_a.estimate - score_b.estimate
    down = np.sqrt(max(0.0, below_a ** 2 - 2 * phi * below_a * above_b + above_b ** 2))
    up = np.sqrt(max(0.0, above_a ** 2 - 2 * phi * above_a * below_b + below_b ** 2))
    return Interval(difference, float(difference - down), float(difference + up), a.size)


def balanced_weights(labels) -> np.ndarray:
    """One weight per image, 1 / (number of images of its class): the weights under which an
    accuracy is the *balanced* accuracy, the mean of the classes' accuracies, so that a
    large class counts no more than a small one (:func:`photo_bootstrap`'s ``weights``)."""
    _, class_of, counts = np.unique(np.asarray(labels), return_inverse=True, return_counts=True)
    return 1.0 / counts[class_of.reshape(-1)]


def photo_bootstrap(correct_a, photos, correct_b=None, confidence: float = 0.95,
                    draws: int = 2000, seed: int = 0, weights=None) -> Interval:
    """Accuracy of model A, or with ``correct_b`` A's minus B's on the same images, with a
    percentile bootstrap interval that draws whole photos, not images. With ``weights``,
    the accuracy is the weighted mean (with :func:`balanced_weights`, balanced accuracy).

    Several images cut from one photo (a logo's crops) share its light, its background and
    often its brand: their errors come together. An interval that counts them as
    independent images is too narrow; drawing photos, each with all its images, keeps them
    together (the cluster bootstrap).

    Args:
        correct_a: one True/False per image.
        photos: the photo each image comes from, one per image (any hashable labels).
        correct_b: if given, one True/False per image, in the same order: the interval is
            then for A's accuracy minus B's.
        confidence: coverage of the interval.
        draws: bootstrap samples; seeded by ``seed``, so a rerun gives the same interval.
        weights: if given, one weight per image (kept fixed while photos are drawn).

    Raises:
        ValueError: the arrays do not have one entry per image each.
    """
    a = _as_correct(correct_a).astype(float)
    b = _as_correct(correct_b).astype(float) if correct_b is not None else np.zeros_like(a)
    w = np.ones_like(a) if weights is None else np.asarray(weights, dtype=float).reshape(-1)
    labels = np.asarray([str(photo) for photo in photos])
    if not a.shape == b.shape == labels.shape == w.shape:
        raise ValueError(f"{a.size} answers, {labels.size} photos, {b.size} answers to "
                         f"compare and {w.size} weights: give one of each per image, in the "
                         "same order")
    score = a - b
    _, photo_of = np.unique(labels, return_inverse=True)
    sums, sizes = np.bincount(photo_of, weights=w * score), np.bincount(photo_of, weights=w)
    drawn = np.random.default_rng(seed).integers(0, sizes.size, (draws, sizes.size))
    estimates = sums[drawn].sum(axis=1) / sizes[drawn].sum(axis=1)
    low, high = np.percentile(estimates, [50 * (1 - confidence), 50 * (1 + confidence)])
    return Interval(float(np.sum(w * score) / np.sum(w)), float(low), float(high), a.size)
