"""Notebook 06, the Keras guide's fine-tune of cats vs dogs: build, unfreeze, fine-tune.

* 06.1 ``classifier_on_frozen_base``: ``build_classifier(base, image_size)`` returns the
  guide's model: Rescaling inside, the base frozen and called with ``training=False``,
  pooling, Dropout and a Dense(1) logit.
* 06.2 ``unfrozen_for_fine_tuning``: ``prepare_fine_tuning(model, base, learning_rate)``
  unfreezes the base with its BatchNormalization layers frozen, and recompiles at
  ``learning_rate`` so that the next ``fit`` trains the base.
* 06.3 ``fine_tune_run``: ``fine_tune(model, train, validation, epochs, callbacks)`` fits on
  ``train``, validated on ``validation``, and returns the History.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Callable, Sequence

import keras
import numpy as np

from exercises import Exercise
from exercises.answers import error_text, learning_rate, on, quietly, recorded_error, single
from exercises.checks import (AccuracyBelowTarget, changes_since, checked, expect_layer,
                              expect_frozen_base_in_inference_mode,
                              expect_logit_output, expect_low_learning_rate,
                              expect_only_batch_norm_frozen, expect_unfrozen, fail, fit_changes,
                              moved_weights, names, trainable_batch_norm)
from exercises.inputs import (apply_layer_flags, binary_images, binary_loss,
                              expect_built_on_fresh_base, fine_tuning_base, fine_tuning_model,
                              layer_flags, prepare_for_fine_tuning)
from exercises.kinds import put_recorded_weights
from grader.records import Record, weight_arrays

#: The learning rate 06.2's function is asked for on fresh inputs (not the notebook's 1e-5).
FINE_TUNE_RATE = 3e-5
#: Images per batch of the fresh datasets of 06.3, and batches in its training data.
FINE_TUNE_BATCH, FINE_TUNE_TRAIN_BATCHES = 8, 4


# --- 06.1 the guide's model on a frozen base ------------------------------------------------


@checked("a frozen base, called with training=False, between Rescaling and a logit head")
def check_frozen_base_in_inference_mode(model, base, images, preprocess_input: Callable) -> None:
    """The guide's model: scaling inside, frozen base, training=False, logit.

    Args:
        images: a few raw images, values in [0, 255].
        preprocess_input: the base's own preprocessing; the model must compute the same
            input for the base.
    """
    expect_frozen_base_in_inference_mode(
        model, base, images, preprocess_input,
        "put keras.layers.Rescaling(scale=1 / 127.5, offset=-1) between the inputs and the "
        "base.")
    expect_logit_output(model)


def pixels_to_unit(images) -> np.ndarray:
    """The fresh base's preprocessing: [0, 255] to [-1, 1], as MobileNet's."""
    return np.asarray(images, dtype="float32") / 127.5 - 1


class ClassifierOnFrozenBase(Exercise):
    """06.1 around a small CNN with BatchNormalization, on 16x16 images; the model is
    recorded as a ``.keras`` file (its layers, their flags and the arguments of every
    call)."""

    name = "classifier_on_frozen_base"

    def check(self, model, base, images, preprocess_input: Callable) -> None:
        check_frozen_base_in_inference_mode(model, base, images, preprocess_input)

    def inputs(self, seed: int) -> int:
        return 16  # the image size asked for

    def run(self, build_classifier: Callable, image_size: int) -> Record:
        try:
            with quietly():
                model = build_classifier(fine_tuning_base(), image_size)
        except Exception as error:
            return Record([{"error": error_text(error)}])
        return Record([{"built": True}], models={"classifier": model})

    def judge(self, record: Record, image_size: int) -> None:
        entry = single(record)
        with on("a small CNN with BatchNormalization as the base, 16x16 images"):
            recorded_error(entry)
            model = record.model("classifier")
            base = expect_built_on_fresh_base(model)
            images, _ = binary_images(64, 8)
            check_frozen_base_in_inference_mode(model, base, images, pixels_to_unit)


# --- 06.2 unfreeze, BatchNormalization frozen, recompile -----------------------------------


def _expect_fine_tuning_flags(base) -> None:
    """Fail unless ``base`` is unfrozen with exactly its BatchNormalization layers frozen."""
    expect_unfrozen(base)
    trainable_bn = trainable_batch_norm(base)
    if trainable_bn:
        fail("BatchNormalization layers stay frozen", "0 trainable BatchNormalization layers",
             names(trainable_bn),
             "after base.trainable = True, set trainable = False on every "
             "keras.layers.BatchNormalization layer of the base (notebook 04).")
    expect_only_batch_norm_frozen(base)


def _expect_base_moved(moved: int) -> None:
    if not moved:
        fail("a fit after unfreezing changes the base", "its weights to change",
             "0 weights changed",
             "call model.compile(...) again after changing trainable.")


@checked("base unfrozen (BatchNormalization still frozen) and recompiled at a low learning rate")
def check_unfrozen_for_fine_tuning(model, base, x, y, max_learning_rate: float) -> None:
    """Base trainable, its BN layers frozen, recompiled at the rate asked so that fit
    trains it."""
    expect_layer(model, "model")
    expect_layer(base, "base")
    _expect_fine_tuning_flags(base)
    expect_low_learning_rate(model, max_learning_rate, exactly=True)
    _expect_base_moved(fit_changes(model, [base.name], x, y)[base.name])


@checked("base unfrozen (BatchNormalization still frozen), recompiled at a low learning rate, "
         "and trained by the fit that followed")
def check_fit_after_preparing(model, base, before: Sequence[np.ndarray],
                              max_learning_rate: float) -> None:
    """Judged after the fact: ``model`` holds its weights after a fit that came after the
    answer; ``before`` is ``model.get_weights()`` from before the answer. The answer was
    given ``max_learning_rate`` to compile at: it must be that rate, not a lower one."""
    _expect_fine_tuning_flags(base)
    expect_low_learning_rate(model, max_learning_rate, exactly=True)
    _expect_base_moved(changes_since(model, before, [base.name])[base.name])


def _weights_entry(model, base) -> tuple[dict, dict]:
    entry = {"flags": layer_flags(base), "learning_rate": learning_rate(model)}
    return entry, weight_arrays(0, model)


def _fine_tuning_model_with(entry: dict, weights: list[np.ndarray]
                            ) -> tuple[keras.Model, keras.Model, list[np.ndarray]]:
    """The fresh classifier and base holding the recorded weights and flags; its initial
    weights."""
    model, base = fine_tuning_model()
    initial = put_recorded_weights(model, entry, weights, loss=binary_loss())
    apply_layer_flags(base, entry["flags"])
    return model, base, initial


class UnfrozenForFineTuning(Exercise):
    """06.2 on a fresh classifier compiled and trained once with its base frozen, then one
    epoch of ``fit`` after the answer."""

    name = "unfrozen_for_fine_tuning"

    def check(self, model, base, x, y, max_learning_rate: float) -> None:
        check_unfrozen_for_fine_tuning(model, base, x, y, max_learning_rate)

    def inputs(self, seed: int) -> float:
        return FINE_TUNE_RATE

    def run(self, prepare_fine_tuning: Callable, rate: float) -> Record:
        model, base = fine_tuning_model()
        x, y = binary_images(61, 16)
        initial = model.get_weights()
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=binary_loss())
        model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
        model.set_weights(initial)
        try:
            with quietly():
                prepare_fine_tuning(model, base, rate)
                model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
        except Exception as error:
            return Record([{"error": error_text(error)}])
        entry, arrays = _weights_entry(model, base)
        return Record([entry], arrays)

    def judge(self, record: Record, rate: float) -> None:
        entry = single(record)
        with on(f"a small CNN base with BatchNormalization, learning_rate={rate:g}"):
            model, base, initial = _fine_tuning_model_with(entry, record.weights(0))
            check_fit_after_preparing(model, base, initial, rate)


# --- 06.3 fine-tune with validation ------------------------------------------------------


def _expect_fine_tuning_run(model, base, fine_history, head_weights: Sequence[np.ndarray],
                            validation) -> None:
    """Fail unless the base moved since ``head_weights`` and one epoch was validated on
    ``validation`` (see :func:`check_fine_tuned`)."""
    expect_layer(model, "model")
    expect_layer(base, "base")
    history = getattr(fine_history, "history", {})
    val_losses = [float(value) for value in history.get("val_loss", [])]
    if not val_losses:
        fail("fine-tuning with validation data", "a History with val_loss for each epoch",
             f"{len(getattr(fine_history, 'epoch', []))} epochs, no val_loss",
             "return model.fit(train, epochs=epochs, validation_data=validation, "
             "callbacks=callbacks).")
    bn = keras.layers.BatchNormalization
    tunable = [w for layer in base.layers if not isinstance(layer, bn) for w in layer.weights]
    moved, total = moved_weights(
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


@checked("fine-tuned: the base moved at a low learning rate, validated on the validation split")
def check_fine_tuned(model, base, fine_history, head_weights: Sequence[np.ndarray], validation,
                     max_learning_rate: float, min_accuracy: float) -> None:
    """The base itself was trained, gently, and validated on ``validation``.

    * Fine-tuning happened: most of the base's trainable weights differ from their values
      after head training (``head_weights``, from ``model.get_weights()``).
    * At a low learning rate: the model's optimizer runs at ``max_learning_rate`` or less.
    * Validated on the validation split: the model's loss on ``validation`` now equals the
      ``val_loss`` of one of the recorded epochs. That holds for the last epoch, and for
      the best one when ``EarlyStopping(restore_best_weights=True)`` or a checkpoint put its
      weights back; it fails when another split was passed as ``validation_data``.
    * Not damaged: validation accuracy at least ``min_accuracy``. The head alone may already
      clear it; it guards against a fine-tune that wrecked the model, not for the lesson
      itself. The test split is never read here: it is for the final score only.
    """
    _expect_fine_tuning_run(model, base, fine_history, head_weights, validation)
    expect_low_learning_rate(model, max_learning_rate)
    predicted, actual = [], []
    for images, labels in validation:  # a logit above 0 means class 1
        predicted.append(np.asarray(model(images, training=False)).reshape(-1) > 0)
        actual.append(np.asarray(labels).reshape(-1) > 0.5)
    accuracy = float(np.mean(np.concatenate(predicted) == np.concatenate(actual)))
    if accuracy < min_accuracy:
        fail("fine-tuning kept the model accurate on the validation split",
             f">= {min_accuracy:.0%}", f"{accuracy:.1%}",
             "train the head first, then unfreeze with BatchNormalization frozen and "
             "fine-tune at the low learning rate: large steps wreck the pretrained weights.",
             error=AccuracyBelowTarget)


@checked("fine-tuned: the base moved, trained on the training data and validated on the "
         "validation data it was given")
def check_fine_tune_run(model, base, fine_history, before: Sequence[np.ndarray], validation,
                        train_batches: int, batches_per_epoch: int,
                        trained_batches: int) -> None:
    """Judged after the fact: ``model`` holds its weights after the answer's fit;
    ``train_batches`` is how many batches were read from the training data given, and
    ``trained_batches`` how many the callbacks given saw trained on."""
    _expect_fine_tuning_run(model, base, fine_history, before, validation)
    epochs = len(getattr(fine_history, "epoch", []))
    if trained_batches != epochs * batches_per_epoch:
        fail("fit is given the callbacks your function receives, and trains every batch",
             f"{epochs * batches_per_epoch} batches seen by them", f"{trained_batches}",
             "pass callbacks=callbacks to fit: the notebook's checkpoint (and the grader's "
             "counter) ride on them.")
    if train_batches != epochs * batches_per_epoch:
        fail("trained on the training data given", f"{epochs * batches_per_epoch} batches of "
             f"it read ({epochs} epochs of {batches_per_epoch})", f"{train_batches}",
             "fit on the train dataset passed to your function; the test split stays out of "
             "training.")


def validation_batches():
    """06.3's fresh validation data: 16 images in batches of FINE_TUNE_BATCH."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(binary_images(62, 16)).batch(FINE_TUNE_BATCH)


class TrainedBatches(keras.callbacks.Callback):
    """The callback 06.3's function is given while grading: counts the batches fit trained."""

    def __init__(self) -> None:
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.batches += 1


class FineTuneRun(Exercise):
    """06.3 on a fresh classifier prepared for fine-tuning, with fresh data, for 2 epochs;
    counts the training batches the answer read, and those its fit trained (through the
    callbacks it is given)."""

    name = "fine_tune_run"

    def check(self, model, base, fine_history, head_weights, validation,
              max_learning_rate: float, min_accuracy: float) -> None:
        check_fine_tuned(model, base, fine_history, head_weights, validation,
                         max_learning_rate, min_accuracy)

    def inputs(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        return binary_images(63, FINE_TUNE_BATCH * FINE_TUNE_TRAIN_BATCHES)

    def run(self, fine_tune: Callable, inputs: tuple[np.ndarray, np.ndarray]) -> Record:
        import tensorflow as tf

        model, base = fine_tuning_model()
        prepare_for_fine_tuning(model, base)
        images, labels = inputs
        read = {"batches": 0}

        def batches():
            for start in range(0, len(labels), FINE_TUNE_BATCH):
                read["batches"] += 1
                yield (images[start:start + FINE_TUNE_BATCH],
                       labels[start:start + FINE_TUNE_BATCH])

        train = tf.data.Dataset.from_generator(batches, output_signature=(
            tf.TensorSpec((None, 16, 16, 3), tf.float32), tf.TensorSpec((None,), tf.float32)))
        counter = TrainedBatches()
        try:
            with quietly():
                history = fine_tune(model, train, validation_batches(), 2, [counter])
            entry, arrays = _weights_entry(model, base)
            entry.update(epoch=[int(epoch) for epoch in history.epoch],
                         history={key: [float(value) for value in values]
                                  for key, values in history.history.items()},
                         train_batches=read["batches"], trained_batches=counter.batches)
        except Exception as error:
            return Record([{"error": error_text(error)}])
        return Record([entry], arrays)

    def judge(self, record: Record, inputs) -> None:
        entry = single(record)
        with on("a small CNN classifier, 32 training and 16 validation images, 2 epochs"):
            model, base, initial = _fine_tuning_model_with(entry, record.weights(0))
            history = SimpleNamespace(epoch=entry["epoch"], history=entry["history"])
            check_fine_tune_run(model, base, history, initial, validation_batches(),
                                int(entry["train_batches"]), FINE_TUNE_TRAIN_BATCHES,
                                int(entry.get("trained_batches", 0)))
