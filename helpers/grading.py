"""The checks behind the notebooks' test cells.

Each ``check_*`` function looks at the learner's objects (models, layers, numbers), prints
``✓ ...`` when they are right, and otherwise raises :class:`helpers.feedback.CheckFailed`
whose text says what was checked, what was expected, what was found, and a hint. An
unexpected error inside a check (a wrong type, say) is turned into the same kind of
feedback, so a learner never sees a traceback from here.

The visible test cells call them in the learner's kernel, on the notebook's objects. Grading
calls them again in a process of its own, on the fresh inputs the learner's functions were
run on (:mod:`helpers.verdicts`): the ``check_*`` functions that take a record (``before``
weights, a returned ``result``) are the ones used only there.
"""

from __future__ import annotations

from helpers import import_tensorflow_quietly

import_tensorflow_quietly()  # before anything imports TensorFlow or Keras

import functools
from typing import Any, Callable, Sequence

import numpy as np

from helpers import feedback
from helpers.feedback import AccuracyBelowTarget, CheckFailed

feedback.install()


def fail(what: str, expected: Any, found: Any, hint: str,
         error: type[CheckFailed] = CheckFailed) -> None:
    """Raise ``error`` (a :class:`CheckFailed`) saying what was checked, expected, found, and
    a hint."""
    raise error(
        f"✗ {what}\n  expected: {expected}\n  found:    {found}\n  hint:     {hint}"
    )


def _check(what: str) -> Callable:
    """Decorate a check: print ✓ on success; report any unexpected error as feedback."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            try:
                func(*args, **kwargs)
            except CheckFailed:
                raise
            except Exception as error:  # the learner's objects can be anything
                fail(
                    what,
                    "objects of the kind the exercise asks for",
                    f"{type(error).__name__}: {error}",
                    "re-run the exercise cell, then this one; check the names and types "
                    "the exercise asks for.",
                )
            print(f"✓ {what}")

        return wrapper

    return decorate


# --- small tools -----------------------------------------------------------------


def _expect_layer(obj: Any, name: str) -> None:
    import keras

    if not isinstance(obj, keras.layers.Layer):
        fail(
            f"`{name}` is a Keras layer or model",
            "a keras.layers.Layer or keras.Model",
            f"{type(obj).__name__}: {obj!r:.80}",
            f"run the cells above that create `{name}`, and do not reassign it.",
        )


def _expect_int(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        fail(
            f"`{name}` is a whole number",
            "an int, such as len(some_list)",
            f"{type(value).__name__}: {value!r:.80}",
            "count the weights with len(...) of the right list.",
        )


def snapshot(layer) -> list[np.ndarray]:
    """Copies of a layer's weight values, to compare after training."""
    return [np.array(w.numpy(), copy=True) for w in layer.weights]


def changed_count(layer, before: Sequence[np.ndarray]) -> int:
    """How many of ``layer``'s weights differ from the snapshot ``before``."""
    return sum(not np.array_equal(b, w.numpy()) for b, w in zip(before, layer.weights))


def _trainable_layers(layers) -> list[str]:
    return [layer.name for layer in layers if layer.trainable]


def _frozen_layers(layers) -> list[str]:
    return [layer.name for layer in layers if not layer.trainable]


def _names(names: list[str], limit: int = 4) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:limit])
    return f"{len(names)} ({shown}{', ...' if len(names) > limit else ''})"


def _expect_unfrozen(base) -> None:
    """Fail unless ``base`` is trainable and has trainable weights."""
    if not base.trainable or not base.trainable_weights:
        fail("the base is unfrozen", "base.trainable == True, with trainable weights",
             f"base.trainable == {base.trainable}, {len(base.trainable_weights)} trainable weights",
             "set base.trainable = True to fine-tune it (then recompile).")


def _expect_only_batch_norm_frozen(base) -> None:
    """Fail if a layer of ``base`` with weights, other than BatchNormalization, is frozen."""
    import keras

    still_frozen = [layer.name for layer in base.layers if layer.weights and not layer.trainable
                    and not isinstance(layer, keras.layers.BatchNormalization)]
    if still_frozen:
        fail("every layer of the base outside BatchNormalization trainable",
             "0 frozen layers with weights, other than BatchNormalization",
             f"frozen: {_names(still_frozen)}",
             "unfreeze the whole base (base.trainable = True), then freeze only the "
             "keras.layers.BatchNormalization layers.")


def _trainable_batch_norm(base) -> list[str]:
    """Names of the BatchNormalization layers of ``base`` that are trainable."""
    import keras

    return [layer.name for layer in base.layers
            if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable]


def _misplaced_around_cut(base, cut: int) -> tuple[list[str], list[str], list[str]]:
    """The layers of ``base`` with weights that break "frozen before index ``cut``, trainable
    from it on, BatchNormalization frozen everywhere" (exercises 04.2 and 07.3), by name:
    (trainable before the cut, frozen from it on, trainable BatchNormalization)."""
    import keras

    bn = keras.layers.BatchNormalization
    trainable_before = [layer.name for layer in base.layers[:cut]
                        if layer.weights and layer.trainable and not isinstance(layer, bn)]
    frozen_after = [layer.name for layer in base.layers[cut:]
                    if layer.weights and not layer.trainable and not isinstance(layer, bn)]
    return trainable_before, frozen_after, _trainable_batch_norm(base)


def _expect_low_learning_rate(model, maximum: float) -> None:
    """Fail unless ``model`` is compiled with a learning rate of at most ``maximum``."""
    optimizer = getattr(model, "optimizer", None)
    rate = None if optimizer is None else float(np.asarray(optimizer.learning_rate))
    if rate is None or rate > maximum * (1 + 1e-6):  # the rate is stored as float32
        fail(
            "fine-tuning uses a low learning rate, set by compiling again",
            f"learning rate <= {maximum:g}",
            "no optimizer (not compiled)" if rate is None else f"{rate:g}",
            "after changing trainable, compile with keras.optimizers.Adam(1e-5): large "
            "steps wreck pretrained weights.",
        )


def _expect_logit_output(model) -> None:
    """Fail unless ``model`` ends in Dense(1) without an activation (it outputs a logit)."""
    import keras

    last = model.layers[-1]
    activation = getattr(getattr(last, "activation", None), "__name__", None)
    if not isinstance(last, keras.layers.Dense) or last.units != 1 or activation != "linear":
        fail("the last layer is Dense(1) with no activation",
             "Dense(1), activation linear (a logit)",
             f"{type(last).__name__}, units={getattr(last, 'units', '?')}, "
             f"activation={activation}",
             "leave out activation=...: the loss turns logits into probabilities.")


def _compiled_metrics(model) -> list:
    """The metric objects ``model`` was compiled with (built by its first fit or evaluate)."""
    compiled = getattr(model, "_compile_metrics", None)
    return list(getattr(compiled, "metrics", []) or []) if compiled is not None else []


def _expect_logit_accuracy(model) -> None:
    """Fail unless every binary accuracy metric of ``model`` thresholds logits at 0.

    ``metrics=["accuracy"]`` and ``BinaryAccuracy()`` both threshold at 0.5, which is right
    for probabilities; on logits it counts a logit between 0 and 0.5 as class 0.
    """
    import keras

    accuracies = [metric for metric in _compiled_metrics(model)
                  if isinstance(metric, keras.metrics.BinaryAccuracy)]
    if not accuracies:
        fail("the head reports accuracy on logits",
             "metrics=[keras.metrics.BinaryAccuracy(threshold=0.0)]",
             "no BinaryAccuracy metric (or the model was never fit)",
             "compile(..., metrics=[keras.metrics.BinaryAccuracy(threshold=0.0)]), then fit.")
    thresholds = sorted({float(metric.threshold) for metric in accuracies})
    if thresholds != [0.0]:
        fail("the accuracy metric's threshold matches a logit output",
             "BinaryAccuracy(threshold=0.0): a logit above 0 means class 1",
             f"threshold {', '.join(f'{t:g}' for t in thresholds)}",
             "'accuracy' and BinaryAccuracy() threshold at 0.5, which suits probabilities: "
             "on logits, pass keras.metrics.BinaryAccuracy(threshold=0.0).")


def _changes_since(model, before: Sequence[np.ndarray], names: Sequence[str]) -> dict[str, int]:
    """How many weights of each layer in ``names`` differ from ``before``
    (``model.get_weights()`` as it was)."""
    return {name: _moved_weights(model, before, model.get_layer(name).weights,
                                 "do not replace the model or its layers.")[0]
            for name in names}


def _fit_changes(model, names: Sequence[str], x, y) -> dict[str, int]:
    """Train ``model`` one epoch on (x, y); how many weights of each layer in ``names`` moved.

    Uses fit's default batch size, as the exercises do, so Keras reuses the training step it
    already built rather than tracing a new one. The model's weights and the optimizer's
    state are restored afterwards, so checking does not change the notebook.
    """
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)  # as fit would: its state can be restored
    before_all = model.get_weights()
    optimizer_before = [np.array(v.numpy(), copy=True) for v in optimizer.variables]
    model.fit(x, y, epochs=1, verbose=0)
    moved = _changes_since(model, before_all, names)
    model.set_weights(before_all)
    for variable, value in zip(optimizer.variables, optimizer_before):
        variable.assign(value)
    return moved


# --- 01 trainable weights --------------------------------------------------------


@_check("weight counts returned by `count_weights`")
def check_weight_counts(count_weights: Callable, model) -> None:
    """Exercise 01.1: ``count_weights(model)`` gives the lengths of the three weight lists."""
    _expect_layer(model, model.name if hasattr(model, "name") else "model")
    found = count_weights(model)
    if not isinstance(found, (tuple, list)) or len(found) != 3:
        fail("`count_weights` returns three numbers", "(n_weights, n_trainable, n_non_trainable)",
             f"{type(found).__name__}: {found!r:.80}",
             "end the function with return n_weights, n_trainable, n_non_trainable.")
    for value, name in zip(found, ["n_weights", "n_trainable", "n_non_trainable"]):
        _expect_int(value, name)
    expected = (len(model.weights), len(model.trainable_weights), len(model.non_trainable_weights))
    found = tuple(int(value) for value in found)
    if found != expected:
        fail(f"weight counts of `{model.name}` (weights, trainable, non-trainable)", expected,
             found, _weight_count_hint(model, found, expected))


def _weight_count_hint(model, found: tuple, expected: tuple) -> str:
    """The hint for exercise 01.1 that matches what the learner counted instead."""
    layers = model.layers
    layer_counts = (len(layers), len(_trainable_layers(layers)), len(_frozen_layers(layers)))
    sizes = lambda weights: sum(int(np.prod(w.shape)) for w in weights)
    parameter_counts = (sizes(model.weights), sizes(model.trainable_weights),
                        sizes(model.non_trainable_weights))
    if found == layer_counts:
        return ("those are layer counts. Count weight tensors: a layer holds several (Conv2D a "
                "kernel and a bias, BatchNormalization four): len(model.weights).")
    if found == parameter_counts:
        return ("those are numbers of parameters (the values inside the tensors). Count the "
                "tensors themselves: len(model.weights), not count_params().")
    if found == (expected[0], expected[2], expected[1]):
        return ("trainable and non-trainable are swapped: take n_trainable from "
                "model.trainable_weights and n_non_trainable from model.non_trainable_weights.")
    if found[0] != found[1] + found[2]:
        return ("every weight is either trainable or not, so n_trainable + n_non_trainable "
                "must equal n_weights: take each from its own list, len(model...).")
    return ("read the three lists of the model you are given: BatchNormalization keeps 4 "
            "weights (gamma and beta trained by the optimizer, the moving mean and variance "
            "non-trainable), and a frozen layer's weights are all non-trainable.")


@_check("`encoder` frozen, `classifier` trained")
def check_frozen_during_fit(model, encoder_before: Sequence[np.ndarray],
                            classifier_before: Sequence[np.ndarray]) -> None:
    """Exercise 01.2: after fit, the encoder is bit-identical and the classifier moved."""
    _expect_layer(model, "model")
    encoder, classifier = model.get_layer("encoder"), model.get_layer("classifier")
    if encoder.trainable:
        fail("`encoder` is frozen", "encoder.trainable == False", "encoder.trainable == True",
             "set the layer's trainable attribute to False before compile().")
    moved = changed_count(encoder, encoder_before)
    if moved:
        fail("`encoder` weights unchanged by fit", f"0 of {len(encoder.weights)} weights changed",
             f"{moved} of {len(encoder.weights)} weights changed",
             "freeze before compile() and fit(): changes to trainable apply at compile().")
    if changed_count(classifier, classifier_before) == 0:
        fail("`classifier` weights changed by fit", "its weights to change",
             "they are unchanged (or fit was not run)",
             "keep `classifier` trainable, compile, then call fit().")


# --- 02 recursive freezing -------------------------------------------------------


@_check("the named layer and every layer below it frozen, the layers above it trainable")
def check_frozen_through(base, last_frozen: str) -> None:
    """Exercise 02.1: layers up to and including ``last_frozen`` frozen, all later trainable.

    The cut is found from the layer's name, here and in the learner's answer: layer indices
    change between Keras versions (InceptionV3's historical 172 now splits a convolution
    from its BatchNormalization), names of the block boundaries do not.
    """
    _expect_layer(base, "base")
    names = [layer.name for layer in base.layers]
    if last_frozen not in names:
        fail("the named layer exists", last_frozen, "no layer of that name",
             "print [layer.name for layer in base.layers] to see the names.")
    cut = names.index(last_frozen) + 1
    still_trainable = _trainable_layers(base.layers[:cut])
    still_frozen = _frozen_layers(base.layers[cut:])
    if still_trainable or still_frozen:
        fail(
            f"layers up to {last_frozen!r} (index {cut - 1}) frozen, every later layer trainable",
            f"{cut} frozen, {len(names) - cut} trainable",
            f"trainable up to it: {_names(still_trainable)}; "
            f"frozen after it: {_names(still_frozen)}",
            _cut_hint(base, cut, f"names.index({last_frozen!r}) + 1",
                      f"the layer named {last_frozen!r} is frozen too, so the cut is one past "
                      "its index",
                      "A layer count copied from an older Keras (such as 172) no longer falls "
                      "on a block boundary."),
        )
    if not base.trainable or not base.trainable_weights:
        fail(
            "the base's own trainable flag lets the unfrozen layers train",
            "base.trainable == True and some trainable weights",
            f"base.trainable == {base.trainable}, "
            f"{len(base.trainable_weights)} trainable weights",
            "a model with trainable=False hides every inner layer's weights, whatever the "
            "inner flags say: set base.trainable = True first, then freeze the lower layers.",
        )


def _frozen_prefix(layers) -> int | None:
    """``k`` when exactly ``layers[:k]`` are frozen and the rest trainable, else None."""
    flags = [layer.trainable for layer in layers]
    k = flags.index(True) if True in flags else len(flags)
    return k if all(flags[k:]) else None


def _cut_hint(base, cut: int, cut_code: str, off_by_one: str, otherwise: str) -> str:
    """The hint for exercises 02.1 and 02.2 that matches the cut the learner made instead."""
    layers = base.layers
    made = _frozen_prefix(layers)
    if not base.trainable or made == len(layers):
        return ("the whole base is frozen: set base.trainable = True first (it resets every "
                "inner layer), then set trainable = False on the lower layers only.")
    if made is not None and abs(made - cut) == 1:
        return (f"off by one: you froze {made} layers, through {layers[made - 1].name!r}; "
                f"{off_by_one}: cut = {cut_code}.")
    if made is not None:
        return (f"you froze the first {made} layers, through {layers[made - 1].name!r}"
                if made else "no layer is frozen") + (
                f"; compute the cut from the name, cut = {cut_code}, then freeze "
                f"base.layers[:cut]. {otherwise}")
    return (f"freeze a prefix: every layer of base.layers[:cut] frozen and every later one "
            f"trainable, with cut = {cut_code}. {otherwise}")


@_check("layers before the named one frozen, from it onward trainable")
def check_unfrozen_from(base, first_trainable: str) -> None:
    """Exercise 02.2: every layer before ``first_trainable`` frozen, it and all after trainable."""
    _expect_layer(base, "base")
    names = [layer.name for layer in base.layers]
    if first_trainable not in names:
        fail("the named layer exists", first_trainable, "no layer of that name",
             "print [layer.name for layer in base.layers] to see the names.")
    start = names.index(first_trainable)
    still_trainable = _trainable_layers(base.layers[:start])
    still_frozen = _frozen_layers(base.layers[start:])
    if still_trainable or still_frozen or not base.trainable:
        fail(
            f"layers before {first_trainable!r} frozen, it and all later layers trainable",
            f"{start} frozen, {len(names) - start} trainable, base.trainable == True",
            f"trainable before it: {_names(still_trainable)}; "
            f"frozen from it onward: {_names(still_frozen)}; base.trainable == {base.trainable}",
            _cut_hint(base, start, f"names.index({first_trainable!r})",
                      f"the layer named {first_trainable!r} is trainable itself, so the cut is "
                      "at its index",
                      "A name test like startswith('block_13') misses the blocks after 13."),
        )


# --- 03 compile after changing trainable ----------------------------------------


def _expect_frozen_in_fit(moved: dict[str, int]) -> None:
    """Fail unless a fit left ``base`` unchanged and trained ``head`` (exercise 03.1)."""
    if moved["base"]:
        fail("a fit after freezing leaves `base` unchanged", "0 weights changed",
             f"{moved['base']} weights changed",
             "the model still trains with the list of trainable weights it had when it was "
             "compiled: call compile() again after changing trainable.")
    if not moved["head"]:
        fail("a fit after freezing still trains `head`", "the head's weights to change",
             "0 weights changed",
             "freeze the layer named 'base' only, keep `head` trainable, and compile again.")


def _expect_unfrozen_in_fit(moved: dict[str, int]) -> None:
    """Fail unless a fit changed ``base`` (exercise 03.2)."""
    if not moved["base"]:
        fail("a fit after unfreezing changes `base`", "its weights to change",
             "0 weights changed",
             "the model still trains with the list of trainable weights it had when it was "
             "compiled: call compile() again after changing trainable.")


@_check("freezing `base` takes effect in fit")
def check_freeze_takes_effect(model, x, y) -> None:
    """Exercise 03.1: ``base`` is frozen, and a fit leaves it unchanged and trains ``head``."""
    _expect_layer(model, "model")
    if model.get_layer("base").trainable:
        fail("`base` is frozen", "base.trainable == False", "True",
             "set model.get_layer('base').trainable = False.")
    _expect_frozen_in_fit(_fit_changes(model, ["base", "head"], x, y))


@_check("unfreezing `base` takes effect in fit, at a low learning rate")
def check_unfreeze_takes_effect(model, x, y, max_learning_rate: float = 1e-4) -> None:
    """Exercise 03.2: ``base`` is trainable, a fit changes it, and the rate is low."""
    _expect_layer(model, "model")
    if not model.get_layer("base").trainable:
        fail("`base` is trainable", "base.trainable == True", "False",
             "set model.get_layer('base').trainable = True.")
    _expect_unfrozen_in_fit(_fit_changes(model, ["base", "head"], x, y))
    _expect_low_learning_rate(model, max_learning_rate)


@_check("freezing `base` took effect in the fit that followed")
def check_fit_after_freezing(model, before: Sequence[np.ndarray]) -> None:
    """Exercise 03.1, judged after the fact: ``model`` holds its weights after a fit that came
    after the answer; ``before`` is ``model.get_weights()`` from before the answer."""
    _expect_frozen_in_fit(_changes_since(model, before, ["base", "head"]))


@_check("unfreezing `base` took effect in the fit that followed, at a low learning rate")
def check_fit_after_unfreezing(model, before: Sequence[np.ndarray],
                               max_learning_rate: float = 1e-4) -> None:
    """Exercise 03.2, judged after the fact (see :func:`check_fit_after_freezing`)."""
    _expect_unfrozen_in_fit(_changes_since(model, before, ["base", "head"]))
    _expect_low_learning_rate(model, max_learning_rate)


# --- 04 BatchNormalization ---------------------------------------------------------


@_check("base unfrozen for fine-tuning, BatchNormalization kept in inference mode")
def check_unfrozen_bn_inference(model, base, images) -> None:
    """Exercise 04.1: the base trains, yet training=True and training=False give one output.

    ``model`` must have no Dropout, so the only layers that behave differently in training
    are the base's BatchNormalization layers.
    """
    _expect_layer(model, "model")
    _expect_layer(base, "base")
    _expect_unfrozen(base)
    _expect_only_batch_norm_frozen(base)
    gap = float(np.max(np.abs(np.asarray(model(images, training=True))
                              - np.asarray(model(images, training=False)))))
    if gap > 1e-4:
        fail(
            "BatchNormalization in inference mode while the base trains",
            "the same output with training=True and training=False (gap 0)",
            f"largest gap {gap:.3g}: BatchNormalization uses batch statistics in training",
            "after base.trainable = True, set trainable = False on every "
            "keras.layers.BatchNormalization layer of the base: a frozen BN layer always "
            "runs in inference mode.",
        )
    _expect_low_learning_rate(model, 1e-4)


@_check("top layers unfrozen, BatchNormalization layers kept frozen")
def check_top_unfrozen_except_bn(base, n_top: int) -> None:
    """Exercise 04.2: the last ``n_top`` layers trainable except BatchNormalization."""
    _expect_layer(base, "base")
    trained_low, frozen_top, wrong_bn = _misplaced_around_cut(base, len(base.layers) - n_top)
    if wrong_bn or frozen_top or trained_low or not base.trainable:
        if not base.trainable:
            hint = ("set top_base.trainable = True first: a frozen model hides every layer "
                    "inside it; then freeze the lower layers and the BatchNormalization ones.")
        else:
            hint = (f"loop over base.layers[-{n_top}:] and set trainable = True only when the "
                    "layer is not a keras.layers.BatchNormalization; freeze the layers below.")
        fail(
            f"the last {n_top} layers trainable except BatchNormalization, the rest frozen",
            "no trainable BatchNormalization, no frozen top layer, no trainable lower layer",
            f"trainable BN: {_names(wrong_bn)}; frozen top: {_names(frozen_top)}; "
            f"trainable lower: {_names(trained_low)}; base.trainable == {base.trainable}",
            hint,
        )


# --- 05 feature extraction ---------------------------------------------------------


def _balanced_sample(dataset, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``per_class`` images of each label (0 and 1) of a batched dataset.

    Reads the whole dataset: stopping a read of a cached ``tf.data`` pipeline half-way, while
    another read of it starts, can truncate what the second read sees.
    """
    picked: dict[int, list] = {0: [], 1: []}
    for batch_images, batch_labels in dataset:
        for image, label in zip(np.asarray(batch_images), np.asarray(batch_labels)):
            chosen = picked[int(label > 0.5)]
            if len(chosen) < per_class:
                chosen.append((image, label))
    pairs = picked[0] + picked[1]
    return (np.stack([image for image, _ in pairs]),
            np.array([label for _, label in pairs], dtype="float32"))


@_check("`extract_features` returns the base's features, each with its own label")
def check_extract_features(extract_features: Callable, feature_extractor, dataset,
                           per_class: int = 12) -> None:
    """Exercise 05.1: features equal the extractor's output, labels in matching order.

    The function is run on ``per_class`` images of each class from ``dataset``, reshuffled
    on every read as the training split is, so reading the data twice (once for features,
    once for labels) shows.
    """
    import tensorflow as tf

    images, labels = _balanced_sample(dataset, per_class)
    shuffled = tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(
        len(labels), seed=1, reshuffle_each_iteration=True)
    _expect_features(extract_features(feature_extractor, shuffled.batch(8)), feature_extractor,
                     images, labels)


@_check("`extract_features` returns the extractor's features, each with its own label")
def check_recorded_features(result: Any, feature_extractor, images, labels) -> None:
    """Exercise 05.1, judged from ``result``: what the function returned for a reshuffled
    dataset of ``images`` and ``labels``."""
    _expect_features(result, feature_extractor, images, labels)


def _expect_features(result: Any, feature_extractor, images, reference_labels) -> None:
    """Fail unless ``result`` is (features, labels) of ``images`` in any one order."""
    reference = np.concatenate([np.asarray(feature_extractor(images[i:i + 8], training=False))
                                for i in range(0, len(images), 8)])
    if not isinstance(result, tuple) or len(result) != 2:
        fail("`extract_features` returns (features, labels)", "a tuple of two arrays",
             f"{type(result).__name__}", "end the function with `return features, labels`.")
    features, labels = (np.asarray(part) for part in result)
    if features.shape != reference.shape or labels.shape != reference_labels.shape:
        if features.ndim > reference.ndim:
            hint = ("these look like the base's feature maps: call feature_extractor (which "
                    "scales the pixels and pools) rather than base, on each batch.")
        else:
            hint = ("call the feature_extractor your function is given on each batch of the "
                    "dataset it is given, and concatenate the per-batch arrays with "
                    "np.concatenate.")
        fail("shapes of features and labels", f"{reference.shape} and {reference_labels.shape}",
             f"{features.shape} and {labels.shape}", hint)
    distances = np.linalg.norm(features[:, None, :] - reference[None, :, :], axis=-1)
    nearest = distances.argmin(axis=1)
    if not np.allclose(features, reference[nearest], atol=1e-3):
        fail("features equal the feature extractor's output", "feature_extractor(images)",
             "other numbers", "call feature_extractor(images, training=False) on each batch.")
    mismatched = int(np.sum(reference_labels[nearest] != labels.reshape(reference_labels.shape)))
    if mismatched:
        fail("each feature vector comes with its own image's label", "0 mismatched labels",
             f"{mismatched} of {len(labels)} mismatched",
             "collect images and labels in the same loop: a shuffled dataset gives a new "
             "order on every pass, so a second pass for the labels does not line up.")


@_check("the head outputs a logit, and was compiled and trained as asked")
def check_logit_head(head, history, epochs: int, validation: tuple | None = None) -> None:
    """Exercise 05.2: Dense(1) without activation, a from-logits loss, ``epochs`` of training
    validated on ``validation`` (features, labels): one epoch's ``val_loss`` must be the
    head's loss on them (the last epoch's, or the best one's if a callback put it back)."""
    import keras

    _expect_layer(head, "head")
    _expect_logit_output(head)
    loss = getattr(head, "loss", None)
    if not isinstance(loss, keras.losses.BinaryCrossentropy) or not loss.get_config().get(
            "from_logits"):
        fail("the loss", "keras.losses.BinaryCrossentropy(from_logits=True)", repr(loss),
             "compile(loss=keras.losses.BinaryCrossentropy(from_logits=True), ...).")
    scores = None if validation is None else head.evaluate(*validation, verbose=0,
                                                            return_dict=True)
    _expect_logit_accuracy(head)
    trained = list(getattr(history, "epoch", []))
    val_losses = [float(value) for value in getattr(history, "history", {}).get("val_loss", [])]
    if trained != list(range(epochs)) or not val_losses:
        fail("training", f"{epochs} epochs with validation_data",
             f"{len(trained)} epochs, validation {'yes' if val_losses else 'no'}",
             f"history = head.fit(..., epochs={epochs}, validation_data=(val_features, "
             "val_labels)).")
    if scores is not None and not any(np.isclose(value, scores["loss"], rtol=1e-3, atol=1e-4)
                                      for value in val_losses):
        fail("the validation data is the validation split you were given",
             f"one epoch's val_loss equal to {scores['loss']:.4f}, the head's loss on it",
             "val_loss " + ", ".join(f"{value:.4f}" for value in val_losses[-4:]),
             "pass validation_data=(val_features, val_labels); validation_split or "
             "another split measures something else.")


@_check("results ranked by validation accuracy, best first")
def check_ranking(ranking, best, results, key: str) -> None:
    """Exercise 05.3: ``ranking`` holds every result once, sorted by ``key`` descending."""
    if not isinstance(ranking, list) or sorted(map(id, ranking)) != sorted(map(id, results)):
        fail("`ranking` holds every entry of `results` once", f"{len(results)} entries",
             f"{type(ranking).__name__} of {len(ranking) if hasattr(ranking, '__len__') else '?'}",
             "use sorted(results, key=...), which returns a new list of the same entries.")
    scores = [entry[key] for entry in ranking]
    if scores != sorted(scores, reverse=True) or best is not ranking[0]:
        fail(f"sorted by {key}, highest first, and best = ranking[0]",
             [round(s, 3) for s in sorted(scores, reverse=True)][:4],
             [round(s, 3) for s in scores][:4],
             "sorted(..., reverse=True) puts the highest first.")


# --- 06 fine-tuning ------------------------------------------------------------------


def _calls_of(model, layer) -> list:
    """The nodes (calls) of ``layer`` inside the functional ``model``."""
    nodes = [node for depth in getattr(model, "_nodes_by_depth", {}).values() for node in depth]
    return [node for node in nodes if node.operation is layer]


@_check("a frozen base, called with training=False, between Rescaling and a logit head")
def check_frozen_base_in_inference_mode(model, base, images, preprocess_input: Callable) -> None:
    """Exercise 06.1: the guide's model: scaling inside, frozen base, training=False, logit.

    Args:
        images: a few raw images, values in [0, 255].
        preprocess_input: the base's own preprocessing; the model must compute the same
            input for the base.
    """
    import keras

    _expect_layer(model, "model")
    _expect_layer(base, "base")
    if base.trainable or base.trainable_weights:
        fail("the base is frozen", "base.trainable == False, 0 trainable weights in it",
             f"base.trainable == {base.trainable}, "
             f"{len(base.trainable_weights)} trainable weights",
             "set base.trainable = False before building the model.")
    calls = _calls_of(model, base)
    if len(calls) != 1:
        fail("`model` calls `base` once", "1 call", f"{len(calls)} calls",
             "build `model` from `inputs` through x = base(x, training=False) to `outputs`.")
    training = calls[0].arguments.kwargs.get("training")
    if training is not False:
        fail("the base is called with training=False", "base(x, training=False)",
             f"base(x{'' if training is None else f', training={training}'})",
             "call the base as the guide does, base(x, training=False): while the base is "
             "frozen its BatchNormalization layers run in inference mode. After unfreezing, "
             "your Keras may let fit's training=True override it (notebook 04 measured "
             "yours), which is why exercise 2 freezes the BatchNormalization layers.")
    base_input = keras.Model(model.input, calls[0].input_tensors[0])
    found = np.asarray(base_input(images, training=False))
    expected = np.asarray(preprocess_input(np.array(images, dtype="float32")))
    if found.shape != expected.shape or not np.allclose(found, expected, atol=1e-3):
        low, high = (float(found.min()), float(found.max())) if found.size else (0.0, 0.0)
        fail("the model scales the pixels itself, as the base expects",
             f"the base's input in [{expected.min():.0f}, {expected.max():.0f}]",
             f"the base's input in [{low:.3g}, {high:.3g}]",
             "put keras.layers.Rescaling(scale=1 / 127.5, offset=-1) between the inputs "
             "and the base.")
    _expect_logit_output(model)


def _expect_fine_tuning_flags(base) -> None:
    """Fail unless ``base`` is unfrozen with exactly its BatchNormalization layers frozen."""
    _expect_unfrozen(base)
    trainable_bn = _trainable_batch_norm(base)
    if trainable_bn:
        fail("BatchNormalization layers stay frozen", "0 trainable BatchNormalization layers",
             _names(trainable_bn),
             "after base.trainable = True, set trainable = False on every "
             "keras.layers.BatchNormalization layer of the base (notebook 04).")
    _expect_only_batch_norm_frozen(base)


def _expect_base_moved(moved: int) -> None:
    if not moved:
        fail("a fit after unfreezing changes the base", "its weights to change",
             "0 weights changed",
             "call model.compile(...) again after changing trainable.")


@_check("base unfrozen (BatchNormalization still frozen) and recompiled at a low learning rate")
def check_unfrozen_for_fine_tuning(model, base, x, y, max_learning_rate: float) -> None:
    """Exercise 06.2: base trainable, its BN layers frozen, recompiled so that fit trains it."""
    _expect_layer(model, "model")
    _expect_layer(base, "base")
    _expect_fine_tuning_flags(base)
    _expect_low_learning_rate(model, max_learning_rate)
    _expect_base_moved(_fit_changes(model, [base.name], x, y)[base.name])


@_check("base unfrozen (BatchNormalization still frozen), recompiled at a low learning rate, "
        "and trained by the fit that followed")
def check_fit_after_preparing(model, base, before: Sequence[np.ndarray],
                              max_learning_rate: float) -> None:
    """Exercise 06.2, judged after the fact: ``model`` holds its weights after a fit that
    came after the answer; ``before`` is ``model.get_weights()`` from before the answer."""
    _expect_fine_tuning_flags(base)
    _expect_low_learning_rate(model, max_learning_rate)
    _expect_base_moved(_changes_since(model, before, [base.name])[base.name])


def _weights_then_and_now(model, weights_before: Sequence[np.ndarray], among, hint: str
                          ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(value before, value now) of each variable ``among`` of ``model``.

    ``weights_before`` is ``model.get_weights()`` as it was, in the order of ``model.weights``;
    a list of another length fails with ``hint`` (the weights were kept from another model).
    """
    current = model.weights
    if len(weights_before) != len(current):
        fail("the weights kept from before belong to this model",
             f"{len(current)} arrays, as model.get_weights() gives",
             f"{len(weights_before)} arrays", hint)
    position = {id(variable): index for index, variable in enumerate(current)}
    return [(weights_before[position[id(variable)]], np.asarray(variable.numpy()))
            for variable in among if id(variable) in position]


def _moved_weights(model, weights_before: Sequence[np.ndarray], among, hint: str
                   ) -> tuple[int, int]:
    """(moved, total) of the variables ``among`` whose values differ from ``weights_before``
    (``model.get_weights()`` as it was)."""
    pairs = _weights_then_and_now(model, weights_before, among, hint)
    return sum(not np.array_equal(before, now) for before, now in pairs), len(pairs)


def _expect_fine_tuning_run(model, base, fine_history, head_weights: Sequence[np.ndarray],
                            validation) -> None:
    """Fail unless the base moved since ``head_weights`` and one epoch was validated on
    ``validation`` (see :func:`check_fine_tuned`)."""
    import keras

    _expect_layer(model, "model")
    _expect_layer(base, "base")
    history = getattr(fine_history, "history", {})
    val_losses = [float(value) for value in history.get("val_loss", [])]
    if not val_losses:
        fail("fine-tuning with validation data", "a History with val_loss for each epoch",
             f"{len(getattr(fine_history, 'epoch', []))} epochs, no val_loss",
             "return model.fit(train, epochs=epochs, validation_data=validation, "
             "callbacks=callbacks).")
    bn = keras.layers.BatchNormalization
    tunable = [w for layer in base.layers if not isinstance(layer, bn) for w in layer.weights]
    moved, total = _moved_weights(
        model, head_weights, tunable,
        "keep head_weights = model.get_weights() right after training the head.")
    if total == 0 or moved < total / 2:
        fail("fine-tuning changed the base",
             "most of the base's weights outside BatchNormalization changed",
             f"{moved} of {total} changed since the head was trained",
             "unfreeze the base (exercise 2), recompile, then fit: a fit on a frozen or "
             "not-recompiled base trains the head alone.")
    validation_loss = model.evaluate(validation, verbose=0, return_dict=True)["loss"]
    if not any(np.isclose(loss, validation_loss, rtol=1e-3, atol=1e-4) for loss in val_losses):
        fail("the validation data is the validation split",
             f"one epoch's val_loss equal to {validation_loss:.4f}, the model's loss on "
             "the validation split",
             "val_loss " + ", ".join(f"{loss:.4f}" for loss in val_losses),
             "pass validation_data=validation (splits.validation); keep splits.test unseen "
             "until the final evaluation.")


@_check("fine-tuned: the base moved at a low learning rate, validated on the validation split")
def check_fine_tuned(model, base, fine_history, head_weights: Sequence[np.ndarray], validation,
                     test, max_learning_rate: float, min_accuracy: float) -> None:
    """Exercise 06.3: the base itself was trained, gently, and validated on ``validation``.

    * Fine-tuning happened: most of the base's trainable weights differ from their values
      after head training (``head_weights``, from ``model.get_weights()``).
    * At a low learning rate: the model's optimizer runs at ``max_learning_rate`` or less.
    * Validated on the validation split: the model's loss on ``validation`` now equals the
      ``val_loss`` of one of the recorded epochs. That holds for the last epoch, and for
      the best one when ``EarlyStopping(restore_best_weights=True)`` or a checkpoint put its
      weights back; it fails when another split was passed as ``validation_data``.
    * Not damaged: test accuracy at least ``min_accuracy``. The head alone may already clear
      it; it guards against a fine-tune that wrecked the model, not for the lesson itself.
    """
    _expect_fine_tuning_run(model, base, fine_history, head_weights, validation)
    _expect_low_learning_rate(model, max_learning_rate)
    predicted, actual = [], []
    for images, labels in test:  # a logit above 0 means class 1
        predicted.append(np.asarray(model(images, training=False)).reshape(-1) > 0)
        actual.append(np.asarray(labels).reshape(-1) > 0.5)
    accuracy = float(np.mean(np.concatenate(predicted) == np.concatenate(actual)))
    if accuracy < min_accuracy:
        fail("fine-tuning kept the model accurate on the held-out test split",
             f">= {min_accuracy:.0%}", f"{accuracy:.1%}",
             "train the head first, then unfreeze with BatchNormalization frozen and "
             "fine-tune at the low learning rate: large steps wreck the pretrained weights.",
             error=AccuracyBelowTarget)


@_check("fine-tuned: the base moved, trained on the training data and validated on the "
        "validation data it was given")
def check_fine_tune_run(model, base, fine_history, before: Sequence[np.ndarray], validation,
                        train_batches: int, batches_per_epoch: int) -> None:
    """Exercise 06.3, judged after the fact: ``model`` holds its weights after the answer's
    fit; ``train_batches`` is how many batches were read from the training data given."""
    _expect_fine_tuning_run(model, base, fine_history, before, validation)
    epochs = len(getattr(fine_history, "epoch", []))
    if train_batches != epochs * batches_per_epoch:
        fail("trained on the training data given", f"{epochs * batches_per_epoch} batches of "
             f"it read ({epochs} epochs of {batches_per_epoch})", f"{train_batches}",
             "fit on the train dataset passed to your function; the test split stays out of "
             "training.")
