"""The checks behind the test cells: right answers pass, each typical mistake gets feedback."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from exercises import batchnorm_pitfalls as nb04
from exercises import checks
from exercises import compile_after_freezing as nb03
from exercises import feature_extraction as nb05
from exercises import fine_tuning_cats_vs_dogs as nb06
from exercises import recursive_freezing as nb02
from exercises import trainable_weights as nb01
from exercises.checks import AccuracyBelowTarget, CheckFailed


def feedback_of(check, *args, **kwargs) -> str:
    with pytest.raises(CheckFailed) as caught:
        check(*args, **kwargs)
    text = str(caught.value)
    assert text.startswith("✗") and "expected:" in text and "found:" in text and "hint:" in text
    return text


def conv_net():
    return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3),
                             keras.layers.BatchNormalization(), keras.layers.Flatten(),
                             keras.layers.Dense(1)])


def count_weights(model):
    return len(model.weights), len(model.trainable_weights), len(model.non_trainable_weights)


def test_weight_counts(capsys):
    nb01.check_weight_counts(count_weights, conv_net())
    assert capsys.readouterr().out.startswith("✓")
    text = feedback_of(nb01.check_weight_counts, lambda model: (8, 8, 0), conv_net())
    assert "(8, 6, 2)" in text and "(8, 8, 0)" in text and "moving mean" in text


@pytest.mark.parametrize("what_was_counted, hint", [
    (lambda net: [len(net.layers), len(net.layers), 0], "layer counts"),
    (lambda net: [net.count_params(), sum(int(np.prod(w.shape)) for w in net.trainable_weights),
                  sum(int(np.prod(w.shape)) for w in net.non_trainable_weights)], "parameters"),
    (lambda net: [8, 2, 6], "swapped"),
    (lambda net: [6, 6, 2], "must equal n_weights"),
    (lambda net: [8, 8, 0], "moving mean"),
])
def test_weight_counts_hint_addresses_what_was_counted(what_was_counted, hint):
    text = feedback_of(nb01.check_weight_counts, what_was_counted, conv_net())
    assert hint in text.split("hint:")[1]


def test_a_wrong_type_is_feedback_not_a_crash():
    assert "whole number" in feedback_of(nb01.check_weight_counts, lambda m: ("8", 6, 2),
                                         conv_net())
    assert "three numbers" in feedback_of(nb01.check_weight_counts, lambda m: 8, conv_net())
    assert "Keras layer" in feedback_of(nb01.check_weight_counts, count_weights, None)
    # an error inside the learner's function, or a check, becomes feedback too
    assert "ZeroDivisionError" in feedback_of(nb01.check_weight_counts, lambda m: 1 / 0,
                                              conv_net())
    assert "ValueError" in feedback_of(nb01.check_frozen_during_fit, conv_net(), [], [])


def two_layer_model(first="encoder", second="classifier"):
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(4, name=first)(inputs)
    return keras.Model(inputs, keras.layers.Dense(1, name=second)(hidden))


DATA = (np.random.default_rng(0).normal(size=(64, 4)).astype("float32"),
        np.random.default_rng(1).normal(size=(64, 1)).astype("float32"))


def test_frozen_during_fit():
    model = two_layer_model()
    before = {name: nb01.snapshot(model.get_layer(name)) for name in ["encoder", "classifier"]}
    model.get_layer("encoder").trainable = False
    model.compile(optimizer="adam", loss="mse")
    model.fit(*DATA, verbose=0)
    nb01.check_frozen_during_fit(model, before["encoder"], before["classifier"])
    model.get_layer("encoder").trainable = True
    assert "encoder.trainable == True" in feedback_of(
        nb01.check_frozen_during_fit, model, before["encoder"], before["classifier"])


def test_frozen_through_a_named_layer():
    base = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3))
    cut = [layer.name for layer in base.layers].index("block_12_add") + 1
    base.trainable = False
    for layer in base.layers[cut:]:
        layer.trainable = True
    assert "base.trainable = True first" in feedback_of(nb02.check_frozen_through, base,
                                                        "block_12_add")
    base.trainable = True
    for layer in base.layers[:cut]:
        layer.trainable = False
    nb02.check_frozen_through(base, "block_12_add")
    # a cut one layer too high: an index copied from elsewhere, not found by name
    base.layers[cut - 1].trainable = True
    text = feedback_of(nb02.check_frozen_through, base, "block_12_add")
    assert "trainable up to it: 1 (block_12_add)" in text and "names.index" in text
    assert "off by one" in text
    assert "no layer of that name" in feedback_of(nb02.check_frozen_through, base, "mixed8")


def freeze_first(base, count: int) -> None:
    base.trainable = True
    for index, layer in enumerate(base.layers):
        layer.trainable = index >= count


@pytest.mark.parametrize("check, name, offset", [
    (nb02.check_frozen_through, "block_12_add", 1),
    (nb02.check_unfrozen_from, "block_13_expand", 0),
])
def test_cut_hints_address_the_cut_that_was_made(check, name, offset):
    base = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3))
    cut = [layer.name for layer in base.layers].index(name) + offset
    hint = lambda: feedback_of(check, base, name).split("hint:")[1]
    freeze_first(base, cut + 1)
    assert "off by one: you froze" in hint() and f"{cut + 1} layers" in hint()
    freeze_first(base, cut - 1)
    assert "off by one" in hint()
    freeze_first(base, 100)
    assert "you froze the first 100 layers" in hint() and "names.index" in hint()
    base.trainable = False
    assert "the whole base is frozen" in hint()
    freeze_first(base, cut)
    check(base, name)


def test_unfrozen_from_catches_a_name_prefix():
    base = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3))
    for layer in base.layers:
        layer.trainable = layer.name.startswith("block_13")
    assert "startswith" in feedback_of(nb02.check_unfrozen_from, base, "block_13_expand")
    start = [layer.name for layer in base.layers].index("block_13_expand")
    for index, layer in enumerate(base.layers):
        layer.trainable = index >= start
    nb02.check_unfrozen_from(base, "block_13_expand")
    assert "no layer of that name" in feedback_of(nb02.check_unfrozen_from, base, "block_99")


def trained_model(base_trainable: bool):
    """A compiled model, trained once, whose `base` layer has the given flag."""
    model = two_layer_model("base", "head")
    model.get_layer("base").trainable = base_trainable
    model.compile(optimizer="adam", loss="mse")
    model.fit(*DATA, verbose=0)
    return model


def test_freezing_takes_effect_only_after_compile():
    model = trained_model(base_trainable=True)
    model.get_layer("base").trainable = False
    assert "compile() again" in feedback_of(nb03.check_freeze_takes_effect, model, *DATA)
    model.compile(optimizer="adam", loss="mse")
    nb03.check_freeze_takes_effect(model, *DATA)


def test_unfreezing_takes_effect_only_after_compile():
    model = trained_model(base_trainable=False)
    model.get_layer("base").trainable = True
    assert "compile() again" in feedback_of(nb03.check_unfreeze_takes_effect, model, *DATA)
    model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="mse")
    before = model.get_weights()
    nb03.check_unfreeze_takes_effect(model, *DATA)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights())), (
        "a check must restore the weights it trained")


def test_unfreezing_with_a_high_learning_rate_is_flagged():
    model = two_layer_model("base", "head")
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    text = feedback_of(nb03.check_unfreeze_takes_effect, model, *DATA)
    assert "found:    0.01" in text and "Adam(1e-5)" in text


@pytest.mark.parametrize("rate", [float("nan"), -1e-3, 0.0])
def test_a_learning_rate_that_is_not_positive_is_not_low(rate):
    """``rate > maximum`` alone is False for all three: 03.2 and 04.1 passed them."""
    from exercises.checks import expect_low_learning_rate

    model = two_layer_model("base", "head")
    model.compile(optimizer=keras.optimizers.Adam(rate), loss="mse")
    text = feedback_of(expect_low_learning_rate, model, 1e-4)
    assert "expected: learning rate in (0, 0.0001]" in text and f"found:    {rate:g}" in text
    model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="mse")
    expect_low_learning_rate(model, 1e-4)


def bn_model():
    base = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Conv2D(2, 1),
                             keras.layers.BatchNormalization()], name="base")
    inputs = keras.Input((4, 4, 3))
    features = keras.layers.Flatten()(base(inputs, training=False))
    return keras.Model(inputs, keras.layers.Dense(1)(features)), base


IMAGES = np.random.default_rng(0).normal(2.0, 3.0, size=(8, 4, 4, 3)).astype("float32")


def test_unfrozen_bn_inference():
    model, base = bn_model()
    base.trainable = False
    model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="mse")
    assert "base.trainable = True" in feedback_of(
        nb04.check_unfrozen_bn_inference, model, base, IMAGES)
    base.trainable = True
    model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="mse")
    assert "batch statistics" in feedback_of(nb04.check_unfrozen_bn_inference, model, base, IMAGES)
    base.layers[-1].trainable = False
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    assert "learning rate" in feedback_of(nb04.check_unfrozen_bn_inference, model, base, IMAGES)
    model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="mse")
    nb04.check_unfrozen_bn_inference(model, base, IMAGES)


def test_top_unfrozen_except_bn():
    base = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3))
    base.trainable = True
    for layer in base.layers[:-20]:
        layer.trainable = False
    text = feedback_of(nb04.check_top_unfrozen_except_bn, base, 20)
    assert "trainable BN: 7 (block_15_expand_BN" in text and "frozen top: none;" in text
    for layer in base.layers[-20:]:
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
    nb04.check_top_unfrozen_except_bn(base, 20)
    base.trainable = False
    assert "top_base.trainable = True first" in feedback_of(
        nb04.check_top_unfrozen_except_bn, base, 20)


class RecordingShell:
    def __init__(self):
        self.shown = None

    def _showtraceback(self, etype, value, stb):
        self.shown = (etype, value, stb)


def test_ipython_shows_the_feedback_without_a_traceback():
    shell = RecordingShell()
    error = CheckFailed("✗ what\n  expected: 1\n  found:    2\n  hint:     h")
    checks._show_without_traceback(shell, CheckFailed, error, None)
    assert shell.shown == (CheckFailed, error, [str(error)])
    assert checks.install() is False  # not inside IPython here


def tiny_dataset():
    import tensorflow as tf

    images = np.random.default_rng(0).normal(size=(12, 4, 4, 3)).astype("float32")
    labels = (np.arange(12) % 2).astype("float32")
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)


def tiny_extractor():
    inputs = keras.Input((4, 4, 3))
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(3, 1)(inputs)))


def test_extract_features_catches_labels_read_in_a_second_pass():
    extractor = tiny_extractor()

    def one_pass(feature_extractor, dataset):
        pairs = [(np.asarray(feature_extractor(x)), np.asarray(y)) for x, y in dataset]
        return np.concatenate([f for f, _ in pairs]), np.concatenate([y for _, y in pairs])

    def two_passes(feature_extractor, dataset):
        features = feature_extractor.predict(dataset, verbose=0)
        return features, np.concatenate([np.asarray(y) for _, y in dataset])

    nb05.check_extract_features(one_pass, extractor, tiny_dataset())
    assert "same loop" in feedback_of(nb05.check_extract_features, two_passes, extractor,
                                      tiny_dataset())
    assert "a tuple of two arrays" in feedback_of(
        nb05.check_extract_features, lambda e, d: None, extractor, tiny_dataset())

    def feature_maps(feature_extractor, dataset):  # called the base, not the extractor that pools
        pairs = [(np.asarray(x), np.asarray(y)) for x, y in dataset]
        return np.concatenate([f for f, _ in pairs]), np.concatenate([y for _, y in pairs])

    assert "call feature_extractor" in feedback_of(nb05.check_extract_features, feature_maps,
                                                   extractor, tiny_dataset())


def test_logit_head():
    features = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    labels = (features[:, 0] > 0).astype("float32")

    def trained(activation=None, from_logits=True, epochs=2, metrics=None):
        if metrics is None:
            metrics = [keras.metrics.BinaryAccuracy(threshold=0.0)]
        head = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation=activation)])
        head.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=from_logits),
                     metrics=metrics)
        history = head.fit(features, labels, epochs=epochs, validation_data=(features, labels),
                           verbose=0)
        return head, history

    nb05.check_logit_head(*trained(), epochs=2)
    for at_half in ["accuracy", keras.metrics.BinaryAccuracy()]:
        text = feedback_of(nb05.check_logit_head, *trained(metrics=[at_half]), epochs=2)
        assert "found:    threshold 0.5" in text and "threshold=0.0" in text
    assert "no BinaryAccuracy" in feedback_of(nb05.check_logit_head, *trained(metrics=[]),
                                              epochs=2)
    assert "no activation" in feedback_of(nb05.check_logit_head, *trained("sigmoid"), epochs=2)
    assert "from_logits=True" in feedback_of(nb05.check_logit_head, *trained(from_logits=False),
                                             epochs=2)
    assert "1 epochs" in feedback_of(nb05.check_logit_head, *trained(epochs=1), epochs=2)
    other = np.random.default_rng(1).normal(size=(16, 3)).astype("float32")
    nb05.check_logit_head(*trained(), epochs=2, validation=(features, labels))
    assert "validation split you were given" in feedback_of(
        nb05.check_logit_head, *trained(), epochs=2, validation=(other, labels))


def test_ranking():
    results = [{"val_accuracy": a} for a in (0.8, 0.9, 0.7)]
    ranking = sorted(results, key=lambda r: r["val_accuracy"], reverse=True)
    nb05.check_ranking(ranking, ranking[0], results, key="val_accuracy")
    ascending = sorted(results, key=lambda r: r["val_accuracy"])
    assert "reverse=True" in feedback_of(nb05.check_ranking, ascending, ascending[0], results,
                                         key="val_accuracy")
    assert "every entry" in feedback_of(nb05.check_ranking, ranking[:2], ranking[0], results,
                                        key="val_accuracy")


def scale_to_unit(images):
    """The small bases' preprocessing here: [0, 255] to [-1, 1], like MobileNet's."""
    return np.asarray(images) / 127.5 - 1


def guide_model(base, training=False, rescale=True, activation=None):
    """The Keras guide's classifier around ``base``, with the choices a learner can get wrong."""
    inputs = keras.Input((4, 4, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs) if rescale else inputs
    x = base(x, training=training) if training is not None else base(x)
    x = keras.layers.Dropout(0.2)(keras.layers.Flatten()(x))
    return keras.Model(inputs, keras.layers.Dense(1, activation=activation)(x))


PIXELS = np.random.default_rng(2).uniform(0, 255, size=(8, 4, 4, 3)).astype("float32")
BINARY = (np.arange(8) % 2).astype("float32")


def test_frozen_base_in_inference_mode():
    _, base = bn_model()
    check = nb06.check_frozen_base_in_inference_mode
    assert "base.trainable = False" in feedback_of(check, guide_model(base), base, PIXELS,
                                                   scale_to_unit)
    base.trainable = False
    check(guide_model(base), base, PIXELS, scale_to_unit)
    assert "found:    base(x)\n" in feedback_of(check, guide_model(base, training=None), base,
                                                PIXELS, scale_to_unit)
    assert "training=True" in feedback_of(check, guide_model(base, training=True), base, PIXELS,
                                          scale_to_unit)
    assert "Rescaling" in feedback_of(check, guide_model(base, rescale=False), base, PIXELS,
                                      scale_to_unit)
    assert "no activation" in feedback_of(check, guide_model(base, activation="sigmoid"), base,
                                          PIXELS, scale_to_unit)
    other = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Dense(1)])
    assert "1 call" in feedback_of(check, other, base, PIXELS, scale_to_unit)


def compiled_guide_model(base, learning_rate):
    model = guide_model(base)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    return model


def test_unfrozen_for_fine_tuning():
    _, base = bn_model()
    base.trainable = False
    model = compiled_guide_model(base, 1e-2)
    model.fit(PIXELS, BINARY, verbose=0)
    check = nb06.check_unfrozen_for_fine_tuning
    assert "base.trainable = True" in feedback_of(check, model, base, PIXELS, BINARY, 1e-5)
    base.trainable = True
    assert "BatchNormalization" in feedback_of(check, model, base, PIXELS, BINARY, 1e-5)
    base.layers[-1].trainable = False
    assert "found:    0.01" in feedback_of(check, model, base, PIXELS, BINARY, 1e-5)
    model.compile(optimizer=keras.optimizers.Adam(1e-6),  # lower than the rate it was given
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    assert "the learning_rate your function is given" in feedback_of(
        check, model, base, PIXELS, BINARY, 1e-5)
    model.compile(optimizer=keras.optimizers.Adam(1e-5),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    weights = model.get_weights()
    check(model, base, PIXELS, BINARY, 1e-5)
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
    optimizer_state = [np.asarray(v) for v in model.optimizer.variables]
    check(model, base, PIXELS, BINARY, 1e-5)
    assert all(np.array_equal(a, np.asarray(b))
               for a, b in zip(optimizer_state, model.optimizer.variables)), (
        "a check must leave the optimizer as it found it")


def fine_tuning_setup():
    """A guide model whose head was trained on a frozen base, then unfrozen and recompiled.

    Returns the model, its base, the weights after head training and (validation, test).
    """
    import tensorflow as tf

    _, base = bn_model()
    base.trainable = False
    model = compiled_guide_model(base, 1e-2)
    model.fit(PIXELS, BINARY, epochs=2, verbose=0)
    head_weights = model.get_weights()
    base.trainable = True
    base.layers[-1].trainable = False  # BatchNormalization stays frozen
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    rng = np.random.default_rng(3)
    validation = tf.data.Dataset.from_tensor_slices(
        (rng.uniform(0, 255, (8, 4, 4, 3)).astype("float32"), BINARY)).batch(4)
    test = tf.data.Dataset.from_tensor_slices((PIXELS, BINARY)).batch(4)
    return model, base, head_weights, (validation, test)


def test_fine_tuned_accepts_early_stopping_and_an_earlier_epoch_put_back():
    model, base, head_weights, (validation, _) = fine_tuning_setup()
    stop = keras.callbacks.EarlyStopping(patience=1, restore_best_weights=True)
    history = model.fit(PIXELS, BINARY, epochs=6, validation_data=validation, callbacks=[stop],
                        verbose=0)
    nb06.check_fine_tuned(model, base, history, head_weights, validation,
                          max_learning_rate=1e-3, min_accuracy=0)
    # a checkpoint of the first epoch loaded back: not the last epoch's val_loss any more
    model, base, head_weights, (validation, _) = fine_tuning_setup()
    epochs = []
    keep = keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: epochs.append(model.get_weights()))
    history = model.fit(PIXELS, BINARY, epochs=3, validation_data=validation, callbacks=[keep],
                        verbose=0)
    model.set_weights(epochs[0])
    assert not np.isclose(history.history["val_loss"][-1], model.evaluate(validation, verbose=0))
    nb06.check_fine_tuned(model, base, history, head_weights, validation,
                          max_learning_rate=1e-3, min_accuracy=0)


def test_fine_tuned_catches_each_shortcut():
    check = nb06.check_fine_tuned
    model, base, head_weights, (validation, _) = fine_tuning_setup()
    history = model.fit(PIXELS, BINARY, epochs=2, validation_data=validation, verbose=0)
    images, labels = map(np.concatenate, zip(*validation.as_numpy_iterator()))
    accuracy = float(np.mean((np.asarray(model(images)).ravel() > 0) == (labels > 0.5)))
    check(model, base, history, head_weights, validation, 1e-3, accuracy)
    assert f"{accuracy:.1%}" in feedback_of(check, model, base, history, head_weights,
                                            validation, 1e-3, accuracy + 0.01)
    assert "found:    0.001" in feedback_of(check, model, base, history, head_weights,
                                            validation, 1e-5, 0)
    # the test split as validation data
    model, base, head_weights, (validation, test) = fine_tuning_setup()
    peeked = model.fit(PIXELS, BINARY, epochs=2, validation_data=test, verbose=0)
    assert "splits.validation" in feedback_of(check, model, base, peeked, head_weights,
                                              validation, 1e-3, 0)
    # fine-tuning skipped: the base frozen again (or never recompiled), only the head trains
    model, base, head_weights, (validation, _) = fine_tuning_setup()
    base.trainable = False
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    head_only = model.fit(PIXELS, BINARY, epochs=2, validation_data=validation, verbose=0)
    assert "0 of 2 changed" in feedback_of(check, model, base, head_only, head_weights,
                                           validation, 1e-3, 0)
    assert "no val_loss" in feedback_of(check, model, base, model.fit(PIXELS, BINARY, verbose=0),
                                        head_weights, validation, 1e-3, 0)
    assert "arrays" in feedback_of(check, model, base, head_only, head_weights[:-1],
                                   validation, 1e-3, 0)


def test_only_the_accuracy_floor_raises_accuracy_below_target():
    """The full-profile dry run (untrained bases) excuses AccuracyBelowTarget alone, so no
    other failure may use that class."""
    model, base, head_weights, (validation, _) = fine_tuning_setup()
    history = model.fit(PIXELS, BINARY, epochs=2, validation_data=validation, verbose=0)
    with pytest.raises(AccuracyBelowTarget):
        nb06.check_fine_tuned(model, base, history, head_weights, validation,
                              max_learning_rate=1e-3, min_accuracy=1.01)
    for learning_rate_cap, history_given in [(1e-5, history),
                                             (1e-3, model.fit(PIXELS, BINARY, verbose=0))]:
        with pytest.raises(CheckFailed) as caught:
            nb06.check_fine_tuned(model, base, history_given, head_weights, validation,
                                  max_learning_rate=learning_rate_cap, min_accuracy=0)
        assert type(caught.value) is CheckFailed
