"""Notebooks 07 and 08's hidden tests: right answers pass on fresh inputs, plausible wrong
ones and answers typed for the notebook's own data fail, each with expected / found / hint."""

from __future__ import annotations

import random

import keras
import numpy as np
import pytest

import exercises
from exercises import fine_tuning_toolkit as nb08
from exercises import fine_tuning_your_own_images as nb07
from exercises import inputs
from exercises.checks import CheckFailed
from grader import verdicts
from test_verdicts import folder, judged, passes, recorded  # noqa: F401 (folder: a fixture)

BN = keras.layers.BatchNormalization
#: A seed grading could draw: the answers below typed what the notebook (seed 0) shows.
GRADING_SEED = 5


def passes_when_graded(folder, monkeypatch, name: str, answer) -> bool:
    """Record and judge ``answer`` under :data:`GRADING_SEED`, as autograde would."""
    recorded(folder, name, answer, seed=GRADING_SEED)
    return verdicts.verdict(folder, name, seed=GRADING_SEED)["passed"]


def split_by_photo(photos, held_out, seed):
    distinct = sorted(set(photos))
    random.Random(seed).shuffle(distinct)
    split_of, start = {}, 0
    for split, share in held_out.items():
        count = round(share * len(distinct))
        split_of.update((photo, split) for photo in distinct[start:start + count])
        start += count
    return [split_of.get(photo, "train") for photo in photos]


def test_photo_split(folder, monkeypatch):
    assert passes(folder, "photo_split", split_by_photo)

    def by_image(photos, held_out, seed):  # images drawn one by one: photos torn apart
        return split_by_photo(list(range(len(photos))), held_out, seed)

    def unseeded(photos, held_out, seed):  # the same split whatever the seed
        return split_by_photo(photos, held_out, 0)

    def shares_of_images(photos, held_out, seed):  # validation gets the whole held-out share
        return split_by_photo(photos, {"validation": sum(held_out.values())}, seed)

    def names_of_its_own(photos, held_out, seed):
        return [{"validation": "val"}.get(split, split)
                for split in split_by_photo(photos, held_out, seed)]

    for wrong in [by_image, unseeded, shares_of_images, names_of_its_own,
                  lambda photos, held_out, seed: split_by_photo(photos, held_out, seed)[:-1]]:
        assert not passes(folder, "photo_split", wrong), wrong.__name__
    photos, held_out, seed = nb07.images_of_photos(0)   # the visible check's splits, typed
    shown = {drawn: dict(zip(photos, split_by_photo(photos, held_out, drawn)))
             for drawn in (seed, seed + 1)}
    typed = lambda photos, held_out, seed: [shown.get(seed, {}).get(photo, "train")
                                            for photo in photos]
    assert passes(folder, "photo_split", typed)  # the visible check's split, looked up...
    assert not passes_when_graded(folder, monkeypatch, "photo_split", typed)  # not graded
    assert passes_when_graded(folder, monkeypatch, "photo_split", split_by_photo)
    message = judged(folder, "photo_split", by_image)["message"]
    assert "in two or three splits" in message and "graded on:" in message


def build_classifier(base, class_names, preprocessing, units=None, activation="softmax",
                     scaled=True, training=False, dropout=0.2, head="head"):
    inputs = keras.Input(shape=base.input_shape[1:])
    x = base(preprocessing(inputs) if scaled else inputs, training=training)
    x = keras.layers.GlobalAveragePooling2D()(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(units or len(class_names), activation=activation, name=head)(x)
    return keras.Model(inputs, outputs)


def test_classifier_for_classes(folder):
    assert passes(folder, "classifier_for_classes", build_classifier)
    assert not passes(folder, "classifier_for_classes",  # the notebook's 27 logos, typed
                      lambda base, names, pre: build_classifier(base, names, pre, units=27))
    assert not passes(folder, "classifier_for_classes",  # logits: no softmax
                      lambda base, names, pre: build_classifier(base, names, pre, activation=None))
    other = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(2, 3)], name="other")
    message = judged(folder, "classifier_for_classes",
                     lambda base, names, pre: build_classifier(other, names, pre))["message"]
    assert "small_cnn" in message and "graded on: a small CNN base" in message


@pytest.mark.parametrize("step, changed, said", [
    (2, {"scaled": False}, "the model scales the pixels itself"),
    (3, {"training": True}, "training=False"),
    (3, {"training": None}, "training=False"),
    (4, {"dropout": 0}, "Dropout(0.2)"),
    (4, {"dropout": 0.5}, "Dropout(0.2)"),
    (5, {"head": "logos"}, 'named "head"'),
])
def test_every_step_of_the_classifier_is_checked(folder, step, changed, said):
    message = judged(folder, "classifier_for_classes", lambda base, names, pre: build_classifier(
        base, names, pre, **changed))["message"]
    assert message.startswith("✗") and said in message, (step, message)


def loss_for(label_mode):
    return {"int": keras.losses.SparseCategoricalCrossentropy(),
            "categorical": keras.losses.CategoricalCrossentropy(),
            "binary": keras.losses.BinaryCrossentropy()}[label_mode]


def test_loss_for_label_modes(folder, monkeypatch):
    assert passes(folder, "loss_for_label_modes", loss_for)
    assert not passes(folder, "loss_for_label_modes",
                      lambda mode: keras.losses.SparseCategoricalCrossentropy())
    assert not passes(folder, "loss_for_label_modes",  # probabilities taken for logits
                      lambda mode: type(loss_for(mode))(from_logits=True))
    visible = nb07.loss_values(loss_for, exercises.exercise("loss_for_label_modes").inputs(0))
    typed = lambda mode: lambda labels, probabilities: visible[mode]  # the visible check's values
    assert passes(folder, "loss_for_label_modes", typed)  # on the notebook's own inputs...
    assert not passes_when_graded(folder, monkeypatch, "loss_for_label_modes", typed)  # not graded
    assert passes_when_graded(folder, monkeypatch, "loss_for_label_modes", loss_for)


def unfreeze_from_block(base, block):
    base.trainable = True
    start = nb08.block_start(base, block)
    for layer in base.layers[:start]:
        layer.trainable = False
    for layer in base.layers[start:]:
        layer.trainable = not isinstance(layer, BN)


def test_unfrozen_from_block(folder):
    assert passes(folder, "unfrozen_from_block", unfreeze_from_block)

    def bn_trainable(base, block):
        unfreeze_from_block(base, block)
        for layer in base.layers:
            if isinstance(layer, BN) and layer.name.startswith(block):
                layer.trainable = True

    def only_the_block(base, block):  # the later blocks stay frozen
        base.trainable = True
        for layer in base.layers:
            layer.trainable = layer.name.startswith(block) and not isinstance(layer, BN)

    typed = {"mobilenet": "block_8", "small_cnn": "block2"}

    def typed_block(base, block):  # one block per base, whatever block is asked for
        unfreeze_from_block(base, typed["mobilenet" if "mobilenet" in base.name else "small_cnn"])

    drawn = [case.argument for case in exercises.exercise("unfrozen_from_block").inputs(0)]
    assert drawn != list(typed.values()), "at this seed, the typed blocks would be right"
    for wrong in [bn_trainable, only_the_block, typed_block]:
        assert not passes(folder, "unfrozen_from_block", wrong), wrong.__name__


def peak_rate(rates, smoothed):
    level = np.median(smoothed[:len(rates) // 3])
    return float(rates[np.flatnonzero(smoothed <= 1.1 * level)[-1]])


def test_peak_rate_from_curve(folder, monkeypatch):
    assert passes(folder, "peak_rate_from_curve", peak_rate)
    first_crossing = lambda rates, smoothed: float(rates[np.argmax(
        smoothed > 1.1 * np.median(smoothed[:len(rates) // 3])) - 1])
    first_batch = lambda rates, smoothed: float(rates[np.flatnonzero(
        smoothed <= 1.1 * smoothed[0])[-1]])
    lowest_loss = lambda rates, smoothed: float(rates[np.argmin(smoothed)])
    tenth_of_lowest = lambda rates, smoothed: lowest_loss(rates, smoothed) / 10   # fast.ai's
    index = lambda rates, smoothed: int(np.flatnonzero(smoothed <= 1.1 * np.median(
        smoothed[:len(rates) // 3]))[-1])
    for wrong in [first_crossing, first_batch, lowest_loss, tenth_of_lowest, index]:
        assert not passes(folder, "peak_rate_from_curve", wrong)
    shown = [peak_rate(*curve) for curve in nb08.range_test_curves(0)]
    typed = lambda rates, smoothed: next(
        (rate for rate in shown if np.any(np.isclose(rates, rate, rtol=1e-9))), shown[0])
    assert passes(folder, "peak_rate_from_curve", typed)  # the visible check's rates...
    assert not passes_when_graded(folder, monkeypatch, "peak_rate_from_curve", typed)
    assert passes_when_graded(folder, monkeypatch, "peak_rate_from_curve", peak_rate)
    message = judged(folder, "peak_rate_from_curve", first_crossing)["message"]
    assert "rate number" in message and "graded on: three range-test curves" in message


def discriminative_optimizer(base, base_rate, head_rate):
    paths = {variable.path for variable in base.weights}
    for_base, for_head = keras.optimizers.Adam(base_rate), keras.optimizers.Adam(head_rate)
    return keras.optimizers.MultiOptimizer(
        lambda variable: for_base if variable.path in paths else for_head)


def test_discriminative_step(folder, monkeypatch):
    assert passes(folder, "discriminative_step", discriminative_optimizer)
    assert not passes(folder, "discriminative_step",
                      lambda base, base_rate, head_rate: keras.optimizers.Adam(head_rate))
    assert not passes(folder, "discriminative_step",  # the rates swapped
                      lambda base, base_rate, head_rate: discriminative_optimizer(
                          base, head_rate, base_rate))
    shown = nb08.rates(0)  # the visible check's rates, typed
    typed = lambda base, base_rate, head_rate: discriminative_optimizer(base, *shown)
    graded = nb08.rates(GRADING_SEED)
    assert not 0.5 < (graded[0] / graded[1]) / (shown[0] / shown[1]) < 2
    assert not passes_when_graded(folder, monkeypatch, "discriminative_step", typed)
    assert passes_when_graded(folder, monkeypatch, "discriminative_step", discriminative_optimizer)
    message = judged(folder, "discriminative_step",
                     lambda base, base_rate, head_rate: None)["message"]
    assert "graded on: a small CNN classifier, base rate" in message


def test_the_visible_checks_say_expected_found_and_hint():
    with pytest.raises(CheckFailed, match="(?s)expected:.*found:.*hint:.*MultiOptimizer"):
        exercises.check("discriminative_step",
                        lambda base, base_rate, head_rate: keras.optimizers.Adam(head_rate))
    with pytest.raises(CheckFailed, match="(?s)expected:.*found:.*hint:.*label_mode"):
        exercises.check("loss_for_label_modes", lambda mode: keras.losses.CategoricalCrossentropy())
    base = inputs.small_cnn()
    with pytest.raises(CheckFailed, match="(?s)trainable before:.*hint:.*block"):
        base.trainable = True
        exercises.check("unfrozen_from_block", base, "block2")
    names = nb07.class_names(0)
    model = build_classifier(nb07.frozen_small_base(), names, keras.layers.Rescaling(1 / 255),
                             units=len(names) + 1)
    with pytest.raises(CheckFailed, match="(?s)one output per class.*len\\(class_names\\)"):
        exercises.check("classifier_for_classes", model, names, np.zeros((2, 16, 16, 3), "float32"))
