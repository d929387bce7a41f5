"""What every check shares: expected / found / hint feedback, the ✓ line, common expectations.

A check looks at the learner's objects (models, layers, numbers), prints ``✓ ...`` when they
are right, and otherwise raises :class:`CheckFailed`, whose text says what was checked, what
was expected, what was found, and a hint. An unexpected error inside a check (a wrong type,
say) becomes the same kind of feedback, so a learner never sees a traceback from here.
:func:`install` makes IPython show a :class:`CheckFailed` as its message alone; the cell still
ends in an error, so nbgrader still gives it zero points.

The notebooks' own checks live with their exercises, one module per notebook; the tools
below are the ones several notebooks use.
"""

from __future__ import annotations

from helpers import import_tensorflow_quietly

import_tensorflow_quietly()  # before anything imports TensorFlow or Keras

import functools
from typing import Any, Callable, Sequence

import numpy as np


class CheckFailed(AssertionError):
    """A learner's answer did not pass a check. ``str()`` is the full feedback."""


class AccuracyBelowTarget(CheckFailed):
    """A model scored below a check's accuracy floor.

    A failure like any other for the learner and for nbgrader. Its own class lets the test
    suite's full-profile dry run, whose bases are untrained, tell this failure (which it
    expects) from every other (tests/test_full_profile.py).
    """


def _show_without_traceback(shell, etype, value, tb, tb_offset=None):
    """IPython custom exception handler: the feedback text, no traceback."""
    shell._showtraceback(etype, value, [str(value)])


def install() -> bool:
    """Show :class:`CheckFailed` as plain feedback in IPython. Returns False outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    shell.set_custom_exc((CheckFailed,), _show_without_traceback)
    return True


def fail(what: str, expected: Any, found: Any, hint: str,
         error: type[CheckFailed] = CheckFailed) -> None:
    """Raise ``error`` (a :class:`CheckFailed`) saying what was checked, expected, found, and
    a hint."""
    raise error(
        f"✗ {what}\n  expected: {expected}\n  found:    {found}\n  hint:     {hint}"
    )


def checked(what: str) -> Callable:
    """Decorate a check: print ``✓ what`` on success; report any unexpected error as
    feedback."""

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


# --- expectations several notebooks share ----------------------------------------------


def expect_layer(obj: Any, name: str) -> None:
    """Fail unless ``obj`` is a Keras layer or model."""
    import keras

    if not isinstance(obj, keras.layers.Layer):
        fail(
            f"`{name}` is a Keras layer or model",
            "a keras.layers.Layer or keras.Model",
            f"{type(obj).__name__}: {obj!r:.80}",
            f"run the cells above that create `{name}`, and do not reassign it.",
        )


def names(found: list[str], limit: int = 4) -> str:
    """``found`` as ``"N (a, b, c, ...)"``, or ``"none"``."""
    if not found:
        return "none"
    shown = ", ".join(found[:limit])
    return f"{len(found)} ({shown}{', ...' if len(found) > limit else ''})"


def trainable_layers(layers) -> list[str]:
    return [layer.name for layer in layers if layer.trainable]


def frozen_layers(layers) -> list[str]:
    return [layer.name for layer in layers if not layer.trainable]


def expect_unfrozen(base) -> None:
    """Fail unless ``base`` is trainable and has trainable weights."""
    if not base.trainable or not base.trainable_weights:
        fail("the base is unfrozen", "base.trainable == True, with trainable weights",
             f"base.trainable == {base.trainable}, {len(base.trainable_weights)} trainable weights",
             "set base.trainable = True to fine-tune it (then recompile).")


def expect_only_batch_norm_frozen(base) -> None:
    """Fail if a layer of ``base`` with weights, other than BatchNormalization, is frozen."""
    import keras

    still_frozen = [layer.name for layer in base.layers if layer.weights and not layer.trainable
                    and not isinstance(layer, keras.layers.BatchNormalization)]
    if still_frozen:
        fail("every layer of the base outside BatchNormalization trainable",
             "0 frozen layers with weights, other than BatchNormalization",
             f"frozen: {names(still_frozen)}",
             "unfreeze the whole base (base.trainable = True), then freeze only the "
             "keras.layers.BatchNormalization layers.")


def trainable_batch_norm(base) -> list[str]:
    """Names of the BatchNormalization layers of ``base`` that are trainable."""
    import keras

    return [layer.name for layer in base.layers
            if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable]


def misplaced_around_cut(base, cut: int) -> tuple[list[str], list[str], list[str]]:
    """The layers of ``base`` with weights that break "frozen before index ``cut``, trainable
    from it on, BatchNormalization frozen everywhere" (exercises 04.2 and 08.1), by name:
    (trainable before the cut, frozen from it on, trainable BatchNormalization)."""
    import keras

    bn = keras.layers.BatchNormalization
    trainable_before = [layer.name for layer in base.layers[:cut]
                        if layer.weights and layer.trainable and not isinstance(layer, bn)]
    frozen_after = [layer.name for layer in base.layers[cut:]
                    if layer.weights and not layer.trainable and not isinstance(layer, bn)]
    return trainable_before, frozen_after, trainable_batch_norm(base)


def is_keras_optimizer(optimizer) -> bool:
    """Whether ``optimizer`` is an instance of one of Keras's own optimizer classes."""
    import keras

    kind = type(optimizer)
    return getattr(keras.optimizers, kind.__name__, None) is kind


def optimizer_rate(optimizer) -> float:
    """The learning rate ``optimizer`` steps with: NaN unless it is one of Keras's own
    optimizer classes, since a subclass can report one rate and step with another."""
    if not is_keras_optimizer(optimizer):
        return float("nan")
    try:
        return float(np.asarray(optimizer.learning_rate))
    except (TypeError, ValueError):  # a schedule, not a number
        return float("nan")


def expect_low_learning_rate(model, maximum: float, exactly: bool = False) -> None:
    """Fail unless ``model`` is compiled with a learning rate above 0 and at most
    ``maximum`` (``exactly``: equal to it), by one of Keras's own optimizers. NaN, 0 and a
    negative rate are no rate: with them ``rate > maximum`` alone is False, and a step of
    -1e-3 climbs the loss."""
    optimizer = getattr(model, "optimizer", None)
    rate = None if optimizer is None else optimizer_rate(optimizer)
    low = (rate is not None and np.isfinite(rate)
           and (1 - 1e-6) * maximum * exactly < rate <= maximum * (1 + 1e-6))  # float32
    if not low:
        fail(
            "fine-tuning uses a low learning rate, set by compiling again",
            f"learning rate {maximum:g}" if exactly else f"learning rate in (0, {maximum:g}]",
            "no optimizer (not compiled)" if rate is None else f"{rate:g}" if
            is_keras_optimizer(optimizer) else
            f"{type(optimizer).__name__}, not one of keras.optimizers' own classes",
            "after changing trainable, compile with keras.optimizers.Adam(1e-5): large "
            "steps wreck pretrained weights." if not exactly else
            "compile with the learning_rate your function is given, not a number of your own.",
        )


def calls_of(model, layer) -> list:
    """The nodes (calls) of ``layer`` inside the functional ``model``."""
    nodes = [node for depth in getattr(model, "_nodes_by_depth", {}).values() for node in depth]
    return [node for node in nodes if node.operation is layer]


def expect_frozen_base_in_inference_mode(model, base, images, preprocess_input: Callable,
                                         scaling_hint: str) -> None:
    """Fail unless ``base`` is frozen, called once in ``model`` with ``training=False``, on
    what ``preprocess_input`` makes of the raw ``images`` (the model scales its own pixels).

    Args:
        images: a few raw images, values in [0, 255].
        scaling_hint: how to put the base's scaling into the model, for the feedback.
    """
    import keras

    expect_layer(model, "model")
    expect_layer(base, "base")
    if base.trainable or base.trainable_weights:
        fail("the base is frozen", "base.trainable == False, 0 trainable weights in it",
             f"base.trainable == {base.trainable}, "
             f"{len(base.trainable_weights)} trainable weights",
             "set base.trainable = False before building the model.")
    calls = calls_of(model, base)
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
             "yours), which is why fine-tuning freezes the BatchNormalization layers.")
    base_input = keras.Model(model.input, calls[0].input_tensors[0])
    found = np.asarray(base_input(images, training=False))
    expected = np.asarray(preprocess_input(np.array(images, dtype="float32")))
    if found.shape != expected.shape or not np.allclose(found, expected, atol=1e-3):
        low, high = (float(found.min()), float(found.max())) if found.size else (0.0, 0.0)
        fail("the model scales the pixels itself, as the base expects",
             f"the base's input in [{expected.min():.3g}, {expected.max():.3g}]",
             f"the base's input in [{low:.3g}, {high:.3g}]", scaling_hint)


def expect_logit_output(model) -> None:
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


def weights_then_and_now(model, weights_before: Sequence[np.ndarray], among, hint: str
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


def moved_weights(model, weights_before: Sequence[np.ndarray], among, hint: str
                  ) -> tuple[int, int]:
    """(moved, total) of the variables ``among`` whose values differ from ``weights_before``
    (``model.get_weights()`` as it was)."""
    pairs = weights_then_and_now(model, weights_before, among, hint)
    return sum(not np.array_equal(before, now) for before, now in pairs), len(pairs)


def changes_since(model, before: Sequence[np.ndarray], layer_names: Sequence[str]
                  ) -> dict[str, int]:
    """How many weights of each layer in ``layer_names`` differ from ``before``
    (``model.get_weights()`` as it was)."""
    return {name: moved_weights(model, before, model.get_layer(name).weights,
                                "do not replace the model or its layers.")[0]
            for name in layer_names}


def fit_changes(model, layer_names: Sequence[str], x, y) -> dict[str, int]:
    """Train ``model`` one epoch on (x, y); how many weights of each layer in ``layer_names``
    moved.

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
    moved = changes_since(model, before_all, layer_names)
    model.set_weights(before_all)
    for variable, value in zip(optimizer.variables, optimizer_before):
        variable.assign(value)
    return moved
