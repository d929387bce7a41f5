"""Notebook 05, feature extraction: extract features once, train a logit head, rank a search.

* 05.1 ``extracted_features``: ``extract_features(feature_extractor, dataset)`` returns
  (features, labels) in one pass, each feature vector with its own image's label.
* 05.2 ``logit_head``: ``train_logit_head(train_features, train_labels, val_features,
  val_labels, epochs)`` returns (head, history): Dense(1) without activation, a from-logits
  loss, an accuracy thresholded at 0, ``epochs`` epochs validated on the validation features.
* 05.3 ``ranking``: ``rank_by_validation(results)`` returns the same entries sorted by
  validation accuracy, best first.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Callable

import keras
import numpy as np

from exercises import Exercise
from exercises.answers import error_text, on, plain, quietly, recorded_error, revive, single
from exercises.checks import checked, expect_layer, expect_logit_output, fail
from grader.records import Record

layers = keras.layers


# --- 05.1 features and labels in one pass -------------------------------------------------


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


def reshuffled(images: np.ndarray, labels: np.ndarray, batch_size: int = 8, seed: int = 43):
    """Batches in a new order on every pass, as the training split is read."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(
        len(labels), seed=seed, reshuffle_each_iteration=True).batch(batch_size)


@checked("`extract_features` returns the base's features, each with its own label")
def check_extract_features(extract_features: Callable, feature_extractor, dataset,
                           per_class: int = 12) -> None:
    """Features equal the extractor's output, labels in matching order.

    The function is run on ``per_class`` images of each class from ``dataset``, reshuffled
    on every read as the training split is, so reading the data twice (once for features,
    once for labels) shows.
    """
    images, labels = _balanced_sample(dataset, per_class)
    _expect_features(extract_features(feature_extractor, reshuffled(images, labels, seed=1)),
                     feature_extractor, images, labels)


@checked("`extract_features` returns the extractor's features, each with its own label")
def check_recorded_features(result: Any, feature_extractor, images, labels) -> None:
    """Judged from ``result``: what the function returned for a reshuffled dataset of
    ``images`` and ``labels``."""
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


def feature_extractor() -> keras.Model:
    """A seeded extractor: a convolution and global average pooling over 16x16 images."""
    keras.utils.set_random_seed(41)
    inputs = keras.Input((16, 16, 3))
    features = layers.Conv2D(6, 3, activation="relu", name="conv")(inputs)
    return keras.Model(inputs, layers.GlobalAveragePooling2D(name="pool")(features),
                       name="fresh_extractor")


def labelled_images(per_class: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` random images of each label, in [0, 255], labels 0/1 in mixed order."""
    rng = np.random.default_rng(42)
    labels = rng.permutation(np.repeat([0.0, 1.0], per_class)).astype("float32")
    return rng.uniform(0, 255, size=(len(labels), 16, 16, 3)).astype("float32"), labels


class ExtractedFeatures(Exercise):
    """05.1 with a fresh extractor on fresh images, read in a new order on every pass."""

    name = "extracted_features"

    def check(self, extract_features: Callable, feature_extractor, dataset) -> None:
        check_extract_features(extract_features, feature_extractor, dataset)

    def inputs(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        return labelled_images()

    def run(self, extract_features: Callable, inputs: tuple[np.ndarray, np.ndarray]) -> Record:
        images, labels = inputs
        try:
            with quietly():
                result = extract_features(feature_extractor(), reshuffled(images, labels))
        except Exception as error:
            return Record([{"error": error_text(error)}])
        if not isinstance(result, tuple) or len(result) != 2:
            return Record([{"returned": plain(result)}])
        return Record([{"returned": "arrays"}],
                      {"features": np.asarray(result[0], dtype="float32"),
                       "labels": np.asarray(result[1], dtype="float32")})

    def judge(self, record: Record, inputs: tuple[np.ndarray, np.ndarray]) -> None:
        entry = single(record)
        with on("a random extractor on 24 random images, read in a new order on every pass"):
            recorded_error(entry)
            result = ((record.arrays["features"], record.arrays["labels"])
                      if entry.get("returned") == "arrays" else revive(entry.get("returned")))
            check_recorded_features(result, feature_extractor(), *inputs)


# --- 05.2 a logit head ------------------------------------------------------------------


def _compiled_metrics(model) -> list:
    """The metric objects ``model`` was compiled with (built by its first fit or evaluate)."""
    compiled = getattr(model, "_compile_metrics", None)
    return list(getattr(compiled, "metrics", []) or []) if compiled is not None else []


def _expect_logit_accuracy(model) -> None:
    """Fail unless every binary accuracy metric of ``model`` thresholds logits at 0.

    ``metrics=["accuracy"]`` and ``BinaryAccuracy()`` both threshold at 0.5, which is right
    for probabilities; on logits it counts a logit between 0 and 0.5 as class 0.
    """
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


@checked("the head outputs a logit, and was compiled and trained as asked")
def check_logit_head(head, history, epochs: int, validation: tuple | None = None) -> None:
    """Dense(1) without activation, a from-logits loss, ``epochs`` of training validated on
    ``validation`` (features, labels): one epoch's ``val_loss`` must be the head's loss on
    them (the last epoch's, or the best one's if a callback put it back)."""
    expect_layer(head, "head")
    expect_logit_output(head)
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


def separable_features(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Train and validation features (dimension 6) whose labels a logistic head can learn,
    drawn from ``seed``."""
    rng = np.random.default_rng(seed + 4)
    direction = rng.normal(size=6)

    def split(count: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(count, 6)).astype("float32")
        return x, ((x @ direction + rng.normal(scale=0.3, size=count)) > 0).astype("float32")

    return {"train": split(96), "validation": split(48)}


class LogitHead(Exercise):
    """05.2 on fresh separable features, for 2 to 4 epochs drawn from the seed."""

    name = "logit_head"

    def check(self, head, history, epochs: int, validation: tuple | None = None) -> None:
        check_logit_head(head, history, epochs, validation=validation)

    def inputs(self, seed: int) -> dict:
        return {**separable_features(seed), "epochs": 2 + seed % 3}

    def run(self, train_logit_head: Callable, inputs: dict) -> Record:
        try:
            with quietly():
                head, history = train_logit_head(*inputs["train"], *inputs["validation"],
                                                 inputs["epochs"])
            entry = {"epoch": [int(epoch) for epoch in history.epoch],
                     "history": {key: [float(value) for value in values]
                                 for key, values in history.history.items()}}
        except Exception as error:
            return Record([{"error": error_text(error)}])
        return Record([entry], models={"head": head})

    def judge(self, record: Record, inputs: dict) -> None:
        entry = single(record)
        with on(f"random separable features of dimension 6, {inputs['epochs']} epochs"):
            recorded_error(entry)
            history = SimpleNamespace(epoch=entry["epoch"], history=entry["history"])
            head = record.model("head")
            check_logit_head(head, history, inputs["epochs"], validation=inputs["validation"])
            expect_trained_epochs(head, inputs["epochs"], len(inputs["train"][1]))


def expect_trained_epochs(head, epochs: int, samples: int) -> None:
    """``head``'s optimizer took the steps of ``epochs`` whole epochs over ``samples``
    examples, at some batch size: a History written by hand around an untrained, or
    partly trained, head does not."""
    optimizer = getattr(head, "optimizer", None)
    steps = int(optimizer.iterations) if optimizer is not None else 0
    per_epoch = {-(-samples // size) for size in range(1, samples + 1)}
    if steps % epochs or steps // epochs not in per_epoch:
        fail("the head trained for every epoch its History shows",
             f"{epochs} epochs of optimizer steps, the same number each",
             f"{steps} steps in all",
             f"train once, with history = head.fit(..., epochs={epochs}): a History is what "
             "fit returns.")


# --- 05.3 rank by validation ------------------------------------------------------------


@checked("results ranked by validation accuracy, best first")
def check_ranking(ranking, best, results, key: str) -> None:
    """``ranking`` holds every result once, sorted by ``key`` descending."""
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


def results_to_rank(seed: int) -> list[dict]:
    """Eight search results with distinct validation and test accuracies in different orders."""
    rng = np.random.default_rng(seed + 5)
    validation = rng.permutation(np.linspace(0.80, 0.95, 8))
    test = rng.permutation(np.linspace(0.81, 0.96, 8))
    return [{"name": f"head_{index}", "units": int(rng.choice([0, 16, 64])),
             "val_accuracy": float(validation[index]), "test_accuracy": float(test[index])}
            for index in range(8)]


class Ranking(Exercise):
    """05.3 on eight fresh search results; records the names returned, in order."""

    name = "ranking"

    def check(self, ranking, best, results, key: str) -> None:
        check_ranking(ranking, best, results, key)

    def inputs(self, seed: int) -> list[dict]:
        return results_to_rank(seed)

    def run(self, rank_by_validation: Callable, results: list[dict]) -> Record:
        given = {id(entry) for entry in results}
        try:
            with quietly():
                ranked = list(rank_by_validation(results))
            entry = {"names": [str(item.get("name")) if isinstance(item, dict)
                               else repr(item)[:80] for item in ranked],
                     "same_entries": all(id(item) in given for item in ranked)}
        except Exception as error:
            entry = {"error": error_text(error)}
        return Record([entry])

    def judge(self, record: Record, results: list[dict]) -> None:
        entry = single(record)
        with on("8 search results with other accuracies"):
            recorded_error(entry)
            by_name = {result["name"]: result for result in results}
            if not entry.get("same_entries"):
                fail("`rank_by_validation` returns the entries it is given",
                     "the same dict objects, reordered", "new or changed objects",
                     "return sorted(results, key=..., reverse=True): it reorders the "
                     "entries without copying or changing them.")
            ranked = [by_name.get(name, {"name": name, "val_accuracy": float("nan")})
                      for name in entry["names"]]
            check_ranking(ranked, ranked[0] if ranked else None, results, key="val_accuracy")
