"""Confidence intervals for accuracies and paired differences."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import stats


def test_accuracy_interval_is_the_wilson_interval():
    interval = stats.accuracy_interval([True] * 95 + [False] * 5)
    assert interval.estimate == pytest.approx(0.95)
    # Wilson 95% interval for 95/100: [0.888, 0.978]
    assert interval.low == pytest.approx(0.8883, abs=1e-3)
    assert interval.high == pytest.approx(0.9785, abs=1e-3)
    perfect = stats.accuracy_interval(np.ones(20, dtype=bool))
    assert perfect.high == pytest.approx(1.0) and perfect.low < 1.0


def test_paired_difference_counts_only_the_images_the_models_disagree_on():
    a = np.array([True] * 90 + [True] * 6 + [False] * 4)
    b = np.array([True] * 90 + [False] * 6 + [True] * 4)
    difference = stats.paired_difference(a, b)
    assert difference.estimate == pytest.approx(0.02)
    assert difference.low < 0 < difference.high and not difference.excludes_zero()
    assert "+2.0 points" in str(difference) and "100 images" in str(difference)
    clear = stats.paired_difference(np.ones(500, bool), np.r_[np.ones(450), np.zeros(50)])
    assert clear.excludes_zero() and clear.low > 0.07


def test_identical_answers_do_not_prove_two_models_equal():
    same = np.arange(50) % 3 == 0
    difference = stats.paired_difference(same, same)
    assert difference.estimate == 0.0 and difference.low < 0 < difference.high
    assert not difference.excludes_zero()


def covered(interval: stats.Interval, truth: float) -> bool:
    return interval.low <= truth <= interval.high


@pytest.mark.parametrize("images, only_a, only_b", [
    (100, 0.02, 0.00),   # two disagreements expected, all one way
    (200, 0.03, 0.01),   # a handful, as between two good models
    (400, 0.10, 0.06),
])
def test_paired_intervals_cover_the_true_difference_95_times_in_100(images, only_a, only_b):
    rng = np.random.default_rng(0)
    hits, wald_hits, draws = 0, 0, 2000
    for _ in range(draws):
        kind = rng.choice(4, size=images, p=[0.8, only_a, only_b, 0.2 - only_a - only_b])
        a, b = np.isin(kind, [0, 1]), np.isin(kind, [0, 2])
        hits += covered(stats.paired_difference(a, b), only_a - only_b)
        differences = a.astype(float) - b.astype(float)
        half = 1.96 * differences.std() / np.sqrt(images)
        wald_hits += abs(differences.mean() - (only_a - only_b)) <= half
    assert hits / draws >= 0.93, f"covered {hits / draws:.3f} of the time"
    if images == 100:  # why not the textbook interval: with few disagreements it is too narrow
        assert wald_hits / draws < 0.9


def test_mismatched_or_empty_answers_are_clear_errors():
    with pytest.raises(ValueError, match="same images"):
        stats.paired_difference([True, False], [True])
    with pytest.raises(ValueError, match="empty"):
        stats.accuracy_interval([])


def clustered_answers(rng, photos: int, per_photo: int, accuracy: float) -> np.ndarray:
    """Right or wrong per image, each photo's images all alike: the worst case of errors
    that come together."""
    return np.repeat(rng.random(photos) < accuracy, per_photo)


def test_photo_bootstrap_widens_the_interval_when_errors_come_by_photo():
    rng = np.random.default_rng(3)
    correct = clustered_answers(rng, 40, 5, 0.75)
    photos = np.repeat(np.arange(40), 5)
    by_photo = stats.photo_bootstrap(correct, photos)
    by_image = stats.accuracy_interval(correct)
    assert by_photo.estimate == pytest.approx(correct.mean()) and by_photo.n == 200
    assert by_photo.high - by_photo.low > 1.8 * (by_image.high - by_image.low)
    # one image per photo: about the Wilson interval
    alone = stats.photo_bootstrap(correct, np.arange(200))
    assert alone.high - alone.low == pytest.approx(by_image.high - by_image.low, rel=0.25)
    assert stats.photo_bootstrap(correct, photos) == by_photo  # seeded: the same again


def test_photo_bootstrap_keeps_its_coverage_where_images_do_not():
    rng = np.random.default_rng(4)
    photos = np.repeat(np.arange(40), 4)
    found = {"photos": 0, "images": 0}
    for trial in range(300):
        correct = clustered_answers(rng, 40, 4, 0.8)
        found["photos"] += covered(stats.photo_bootstrap(correct, photos, draws=500,
                                                         seed=trial), 0.8)
        found["images"] += covered(stats.accuracy_interval(correct), 0.8)
    assert found["photos"] / 300 > 0.88 and found["images"] / 300 < 0.8, found


def test_photo_bootstrap_of_a_difference_and_its_errors():
    a = np.array([True, True, False, True, True, True])
    b = np.array([True, False, False, False, True, False])
    difference = stats.photo_bootstrap(a, ["p1", "p1", "p2", "p2", "p3", "p3"], b)
    assert difference.estimate == pytest.approx(0.5)
    assert difference.low <= 0.5 <= difference.high
    with pytest.raises(ValueError, match="one of each per image"):
        stats.photo_bootstrap(a, ["p1"] * 5, b)
    with pytest.raises(ValueError, match="one of each per image"):
        stats.photo_bootstrap(a, ["p1"] * 6, b[:5])


def test_balanced_accuracy_counts_each_class_alike():
    labels = np.array([0] * 8 + [1] * 2)
    correct = np.array([True] * 8 + [False] * 2)   # the large class right, the small one wrong
    weights = stats.balanced_weights(labels)
    assert weights.tolist() == [1 / 8] * 8 + [1 / 2] * 2
    balanced = stats.photo_bootstrap(correct, np.arange(10), weights=weights)
    assert balanced.estimate == pytest.approx(0.5)   # (8/8 + 0/2) / 2, where accuracy is 0.8
    assert stats.photo_bootstrap(correct, np.arange(10)).estimate == pytest.approx(0.8)
    assert balanced.low <= 0.5 <= balanced.high
    with pytest.raises(ValueError, match="one of each per image"):
        stats.photo_bootstrap(correct, np.arange(10), weights=weights[:9])
