"""Hidden tests judged from records: each answer on fresh inputs, then a verdict from the record.

Here the recording and the judging share this process, to test what each verdict says; the
round trip (test_nbgrader.py) runs the judge in its own process, as grading does.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_output

import exercises
from exercises import inputs
from exercises.trainable_weights import weight_count_models
from grader import records, verdicts
from grader.judge import CollectEvidence, JudgeOutsideKernel, judged_calls
from grader.records import Record

BN = keras.layers.BatchNormalization


@pytest.fixture
def folder(tmp_path):
    return tmp_path


def recorded(folder, name: str, answer, seed: int = 0) -> None:
    """Record ``answer`` for the exercise ``name`` on the inputs of ``seed``, as the answer
    runner does."""
    exercises.write_record(name, answer, exercises.exercise(name).inputs(seed), folder)


def judged(folder, name: str, answer) -> dict:
    """Record ``answer`` for the exercise ``name``, then judge the record."""
    recorded(folder, name, answer)
    return verdicts.verdict(folder, name)


def passes(folder, name, answer) -> bool:
    result = judged(folder, name, answer)
    assert result["message"].startswith("✓" if result["passed"] else "✗"), result
    if not result["passed"]:
        assert "expected:" in result["message"] and "found:" in result["message"], result
    return result["passed"]


# --- the right answers, and answers that only fit the notebook's own objects --------------


def count_weights(model):
    return len(model.weights), len(model.trainable_weights), len(model.non_trainable_weights)


def test_weight_counts(folder):
    assert passes(folder, "weight_counts", count_weights)
    conv_net_counts = (8, 6, 2)  # what the notebook printed for its conv_net
    assert not passes(folder, "weight_counts", lambda model: conv_net_counts)
    assert not passes(folder, "weight_counts",  # trainable flags ignored: BN only
                      lambda model: (len(model.weights), len(model.weights) - 2 * sum(
                          isinstance(layer, BN) for layer in model.layers),
                          2 * sum(isinstance(layer, BN) for layer in model.layers)))
    message = judged(folder, "weight_counts", lambda model: model.undefined)["message"]
    assert "AttributeError" in message and "graded on: `mlp_with_batch_norm`" in message


def train_classifier_only(model, x, y):
    model.get_layer("encoder").trainable = False
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=3, verbose=0)


def test_classifier_only_training(folder):
    assert passes(folder, "classifier_only_training", train_classifier_only)

    def restored(model, x, y):
        weights = model.get_weights()
        train_classifier_only(model, x, y)
        model.set_weights(weights)

    def swapped(model, x, y):  # trains a copy, leaves the given model untouched
        train_classifier_only(keras.models.clone_model(model), x, y)

    def not_recompiled(model, x, y):
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, y, epochs=1, verbose=0)
        model.get_layer("encoder").trainable = False
        model.fit(x, y, epochs=2, verbose=0)

    def trained_all_then_put_back(model, x, y):
        encoder = model.get_layer("encoder").get_weights()
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, y, epochs=3, verbose=0)
        model.get_layer("encoder").set_weights(encoder)
        model.get_layer("encoder").trainable = False

    for answer in [restored, swapped, not_recompiled, trained_all_then_put_back]:
        assert not passes(folder, "classifier_only_training", answer), answer.__name__

    def unshuffled_with_the_optimizer_object(model, x, y):  # right, written another way
        model.get_layer("encoder").trainable = False
        model.compile(optimizer=keras.optimizers.Adam(), loss=keras.losses.MeanSquaredError())
        model.fit(x, y, epochs=3, verbose=0, shuffle=False)

    assert passes(folder, "classifier_only_training", unshuffled_with_the_optimizer_object)


def cut_at(base, cut):
    base.trainable = True
    for index, layer in enumerate(base.layers):
        layer.trainable = index >= cut


def test_frozen_through_and_unfrozen_from(folder):
    names = lambda base: [layer.name for layer in base.layers]
    assert passes(folder, "frozen_through", lambda base, name: cut_at(base, names(base).index(name) + 1))
    assert passes(folder, "unfrozen_from", lambda base, name: cut_at(base, names(base).index(name)))
    assert not passes(folder, "frozen_through", lambda base, name: cut_at(base, 249))  # typed
    assert not passes(folder, "frozen_through",  # one too few
                      lambda base, name: cut_at(base, names(base).index(name)))
    assert not passes(folder, "unfrozen_from",  # the block's own layers only
                      lambda base, name: [setattr(layer, "trainable", layer.name.startswith(
                          name.rsplit("_", 1)[0])) for layer in base.layers])

    def base_left_frozen(base, name):
        for index, layer in enumerate(base.layers):
            layer.trainable = index >= names(base).index(name)

    assert not passes(folder, "unfrozen_from", base_left_frozen)


def test_freeze_and_unfreeze_take_effect(folder):
    def freeze(model):
        model.get_layer("base").trainable = False
        model.compile(optimizer="adam", loss="mse")

    def unfreeze(model):
        model.get_layer("base").trainable = True
        model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="mse")

    assert passes(folder, "freeze_takes_effect", freeze)
    assert passes(folder, "unfreeze_takes_effect", unfreeze)
    assert not passes(folder, "freeze_takes_effect",  # no recompile
                      lambda model: setattr(model.get_layer("base"), "trainable", False))
    assert not passes(folder, "unfreeze_takes_effect",
                      lambda model: setattr(model.get_layer("base"), "trainable", True))

    def freeze_everything(model):  # more than asked: the head stops training too
        model.trainable = False
        model.compile(optimizer="adam", loss="mse")

    assert not passes(folder, "freeze_takes_effect", freeze_everything)

    def unfreeze_fast(model):
        model.get_layer("base").trainable = True
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")

    assert "learning rate" in judged(folder, "unfreeze_takes_effect", unfreeze_fast)["message"]

    class QuietAdam(keras.optimizers.Adam):  # steps at 1e-3, reports 1e-5
        @property
        def learning_rate(self):
            return 1e-5

        @learning_rate.setter
        def learning_rate(self, value):
            keras.optimizers.Adam.learning_rate.fset(self, value)

    def unfreeze_lying(model):
        model.get_layer("base").trainable = True
        model.compile(optimizer=QuietAdam(1e-3), loss="mse")

    for lying in (unfreeze_lying, unfreeze_with(float("nan")), unfreeze_with(-1e-3)):
        assert not passes(folder, "unfreeze_takes_effect", lying), lying


def unfreeze_with(rate: float):
    def unfreeze(model):
        model.get_layer("base").trainable = True
        model.compile(optimizer=keras.optimizers.Adam(rate), loss="mse")
    return unfreeze


def test_unfrozen_bn_inference_and_top_unfrozen(folder):
    def prepare(model, base):
        base.trainable = True
        for layer in base.layers:
            layer.trainable = not isinstance(layer, BN)
        model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="mse")

    def unfreeze_top(base, n_top):
        base.trainable = True
        for index, layer in enumerate(base.layers):
            layer.trainable = index >= len(base.layers) - n_top and not isinstance(layer, BN)

    assert passes(folder, "unfrozen_bn_inference", prepare)
    assert passes(folder, "top_unfrozen_except_bn", unfreeze_top)

    def bn_in_training_mode(model, base):
        base.trainable = True
        model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="mse")

    def only_the_top(model, base):  # less than asked: most of the base stays frozen
        prepare(model, base)
        for layer in base.layers[:-3]:
            layer.trainable = False

    for answer in [bn_in_training_mode, only_the_top]:
        assert not passes(folder, "unfrozen_bn_inference", answer), answer.__name__
    assert not passes(folder, "top_unfrozen_except_bn", lambda base, n: unfreeze_top(base, 20))


def test_the_fresh_inputs_follow_the_grading_seed(folder):
    by_seed = {seed: [count_weights(model) for model in weight_count_models(seed)]
               for seed in range(6)}
    assert len({tuple(found) for found in by_seed.values()}) > 3, by_seed
    cuts = {tuple(case.argument for case in exercises.exercise("frozen_through").inputs(seed))
            for seed in range(6)}
    assert len(cuts) > 3, cuts
    # answers right for the seed of a run made before grading are wrong under grading's seed
    recorded(folder, "weight_counts", count_weights)
    assert verdicts.verdict(folder, "weight_counts", seed=0)["passed"]
    other = next(seed for seed in range(1, 6) if by_seed[seed] != by_seed[0])
    assert not verdicts.verdict(folder, "weight_counts", seed=other)["passed"]
    recorded(folder, "weight_counts", count_weights, seed=other)
    assert verdicts.verdict(folder, "weight_counts", seed=other)["passed"]


def test_each_submission_has_its_own_seed_the_same_on_every_regrade(tmp_path):
    collect = CollectEvidence(secret_file=str(tmp_path / "secret"))
    about = lambda student: {"nbgrader": {"assignment": "01", "student": student,
                                          "notebook": "01"}}
    assert collect.seed(about("ada")) == collect.seed(about("ada")) != collect.seed(about("bob"))
    assert (tmp_path / "secret").stat().st_mode & 0o077 == 0, "only the instructor reads it"
    other_course = CollectEvidence(secret_file=str(tmp_path / "other-secret"))
    assert other_course.seed(about("ada")) != collect.seed(about("ada"))


def extract_features(feature_extractor, dataset):
    features, labels = [], []
    for images, batch_labels in dataset:
        features.append(np.asarray(feature_extractor(images, training=False)))
        labels.append(np.asarray(batch_labels))
    return np.concatenate(features), np.concatenate(labels)


def test_extracted_features(folder):
    assert passes(folder, "extracted_features", extract_features)

    def two_passes(feature_extractor, dataset):  # the labels come back in another order
        features = feature_extractor.predict(dataset, verbose=0)
        return features, np.concatenate([np.asarray(labels) for _, labels in dataset])

    def another_extractor(feature_extractor, dataset):  # a global, not the one given
        return extract_features(inputs.small_cnn(), dataset)

    for answer in [two_passes, another_extractor, lambda extractor, dataset: None]:
        assert not passes(folder, "extracted_features", answer)


def train_logit_head(train_features, train_labels, val_features, val_labels, epochs,
                     metric=None, **fit):
    head = keras.Sequential([keras.Input(train_features.shape[1:]),
                             keras.layers.Dropout(0.2), keras.layers.Dense(1)])
    head.compile(optimizer=keras.optimizers.Adam(1e-3),
                 loss=keras.losses.BinaryCrossentropy(from_logits=True),
                 metrics=[metric or keras.metrics.BinaryAccuracy(threshold=0.0)])
    fit = fit or {"validation_data": (val_features, val_labels)}
    return head, head.fit(train_features, train_labels, epochs=epochs, verbose=0, **fit)


def made_up_history(train_features, train_labels, val_features, val_labels, epochs,
                    trained=0):
    """A head trained ``trained`` epochs (of one batch), and a History of ``epochs`` epochs
    whose every val_loss is the head's real loss on the validation features."""
    head, _ = train_logit_head(train_features, train_labels, val_features, val_labels,
                               max(trained, 1), batch_size=len(train_labels),
                               validation_data=(val_features, val_labels))
    if not trained:
        head.optimizer.iterations.assign(0)
    loss = head.evaluate(val_features, val_labels, verbose=0, return_dict=True)["loss"]
    history = keras.callbacks.History()
    history.epoch = list(range(epochs))
    history.history = {"loss": [loss] * epochs, "val_loss": [loss] * epochs}
    return head, history


def test_logit_head(folder):
    assert passes(folder, "logit_head", train_logit_head)
    wrong = {
        "accuracy at 0.5 on logits": lambda *a: train_logit_head(*a, metric="accuracy"),
        "20 epochs typed": lambda tx, ty, vx, vy, epochs: train_logit_head(tx, ty, vx, vy, 20),
        "validation_split": lambda tx, ty, vx, vy, epochs: train_logit_head(
            tx, ty, vx, vy, epochs, validation_split=0.25),
        "trained on the validation split": lambda tx, ty, vx, vy, epochs: train_logit_head(
            vx, vy, tx, ty, epochs),
        "a History made up around an untrained head": made_up_history,
        "one epoch trained, the History made up": lambda *a: made_up_history(*a, trained=1),
    }
    for why, answer in wrong.items():
        assert not passes(folder, "logit_head", answer), why


def test_ranking(folder):
    by_validation = lambda results: sorted(results, key=lambda r: r["val_accuracy"], reverse=True)
    assert passes(folder, "ranking", by_validation)

    def overwritten(results):  # rewrites the scores the ranking is judged by
        for rank, result in enumerate(results):
            result["val_accuracy"] = 1.0 - rank / 100
        return list(results)

    wrong = [lambda results: sorted(results, key=lambda r: r["val_accuracy"]),
             lambda results: sorted(results, key=lambda r: r["test_accuracy"], reverse=True),
             lambda results: [dict(r) for r in by_validation(results)], overwritten,
             lambda results: by_validation(results)[:3]]
    for answer in wrong:
        assert not passes(folder, "ranking", answer)


def build_classifier(base, image_size, training=False, rescale=True, freeze=True):
    base.trainable = not freeze
    inputs = keras.Input((image_size, image_size, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs) if rescale else inputs
    x = base(x, training=False) if training is False else base(x)
    x = keras.layers.Dropout(0.2)(keras.layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, keras.layers.Dense(1)(x))


def test_classifier_on_frozen_base(folder):
    assert passes(folder, "classifier_on_frozen_base", build_classifier)
    wrong = {
        "no training=False": lambda base, size: build_classifier(base, size, training=None),
        "no rescaling": lambda base, size: build_classifier(base, size, rescale=False),
        "base left trainable": lambda base, size: build_classifier(base, size, freeze=False),
        "another base": lambda base, size: build_classifier(inputs.small_mobilenet_v2(), 32),
    }
    for why, answer in wrong.items():
        assert not passes(folder, "classifier_on_frozen_base", answer), why


def prepare_fine_tuning(model, base, learning_rate, freeze_batch_norm=True, compile=True):
    base.trainable = True
    for layer in base.layers:
        if freeze_batch_norm and isinstance(layer, BN):
            layer.trainable = False
    if compile:
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=inputs.binary_loss())


def test_unfrozen_for_fine_tuning(folder):
    assert passes(folder, "unfrozen_for_fine_tuning", prepare_fine_tuning)
    wrong = {
        "BN left trainable": lambda m, b, r: prepare_fine_tuning(m, b, r, freeze_batch_norm=False),
        "not recompiled": lambda m, b, r: prepare_fine_tuning(m, b, r, compile=False),
        "1e-3 typed": lambda m, b, r: prepare_fine_tuning(m, b, 1e-3),
        "a lower rate typed": lambda m, b, r: prepare_fine_tuning(m, b, r / 10),
        "NaN": lambda m, b, r: prepare_fine_tuning(m, b, float("nan")),
        "negative": lambda m, b, r: prepare_fine_tuning(m, b, -r),
    }
    for why, answer in wrong.items():
        assert not passes(folder, "unfrozen_for_fine_tuning", answer), why


def fine_tune(model, train, validation, epochs, callbacks):
    return model.fit(train, epochs=epochs, validation_data=validation, callbacks=callbacks,
                     verbose=0)


def test_fine_tune_run(folder):
    assert passes(folder, "fine_tune_run", fine_tune)

    def restored(model, train, validation, epochs, callbacks):
        weights = model.get_weights()
        history = fine_tune(model, train, validation, epochs, callbacks)
        model.set_weights(weights)
        return history

    wrong = {
        "validated on the training data": lambda m, t, v, e, c: fine_tune(m, t, t, e, c),
        "trained on the validation data": lambda m, t, v, e, c: fine_tune(m, v, v, e, c),
        "no validation": lambda m, t, v, e, c: m.fit(t, epochs=e, verbose=0),
        "weights put back": restored,
        "callbacks ignored": lambda m, t, v, e, c: fine_tune(m, t, v, e, []),
    }
    for why, answer in wrong.items():
        assert not passes(folder, "fine_tune_run", answer), why


# --- records that are missing, damaged or hostile --------------------------------------------


def test_a_missing_record_is_not_a_pass(folder):
    assert verdicts.verdict(folder, "weight_counts") == {"missing": True}


@pytest.mark.parametrize("damage", ["not json", json.dumps({"cases": [{"returned": 1}]}),
                                    json.dumps({"no cases": []})])
def test_a_damaged_record_fails_with_a_message(folder, damage):
    (folder / "weight_counts.json").write_text(damage)
    result = verdicts.verdict(folder, "weight_counts")
    assert result["passed"] is False and result["message"].startswith("✗"), result


def test_a_record_of_fewer_cases_than_inputs_fails(folder):
    records.write(folder, "weight_counts", Record([{"returned": [14, 8, 6]}]))  # first model only
    assert verdicts.verdict(folder, "weight_counts")["passed"] is False


def test_pickled_arrays_in_a_record_are_not_loaded(folder):
    records.write(folder, "classifier_only_training", Record([{"flags": {}}, {"flags": {}}]))
    np.savez(folder / "classifier_only_training.npz",
             case0_weight0=np.array([object()], dtype=object))
    result = verdicts.verdict(folder, "classifier_only_training")
    assert result["passed"] is False and "could not be read" in result["message"], result


def test_a_record_that_links_elsewhere_is_not_read(folder, tmp_path_factory):
    secret = tmp_path_factory.mktemp("course") / "grading-secret"
    secret.write_text(json.dumps({"cases": [{"returned": [1, 1, 0]}] * 3}))
    (folder / "weight_counts.json").symlink_to(secret)
    assert "is a link" in verdicts.verdict(folder, "weight_counts")["message"]


def test_an_oversized_record_is_not_read(folder, monkeypatch):
    monkeypatch.setattr(records, "MAX_RECORD_BYTES", 10)
    records.write(folder, "weight_counts", Record([{"returned": [14, 8, 6]}] * 3))
    assert "larger than 10 bytes" in verdicts.verdict(folder, "weight_counts")["message"]


def deep_json(depth: int) -> str:
    return json.dumps({"cases": []})[:-3] + "[" * depth + "]" * depth + "}"


def write_npz_declaring(path, shape: tuple[int, ...]) -> None:
    """An ``.npz`` of one array whose header declares ``shape`` of float64, with no data."""
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": shape})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("case0_weight0.npy", np.lib.format.magic(1, 0) + header.getvalue())


@pytest.mark.parametrize("trap", ["nested-json", "npz-declares-2**40", "npz-bomb", "fifo-keras",
                                  "keras-bomb", "not-utf-8"])
def test_a_record_that_would_break_the_judge_costs_only_its_exercise(folder, trap):
    import os
    import zipfile

    name = {"fifo-keras": "classifier_on_frozen_base",
            "keras-bomb": "classifier_on_frozen_base"}.get(trap, "classifier_only_training")
    records.write(folder, name, Record([{"flags": {}}, {"flags": {}}]))
    if trap == "nested-json":
        (folder / f"{name}.json").write_text(deep_json(100_000))
    elif trap == "npz-declares-2**40":
        write_npz_declaring(folder / f"{name}.npz", (2**40,))
    elif trap == "npz-bomb":  # 1 GiB of zeros, deflated to about 1 MiB
        with zipfile.ZipFile(folder / f"{name}.npz", "w", zipfile.ZIP_DEFLATED) as archive:
            with archive.open("case0_weight0.npy", "w", force_zip64=True) as member:
                member.write(np.lib.format.magic(1, 0))
                for _ in range(1024):
                    member.write(bytes(2**20))
    elif trap == "fifo-keras":
        (folder / f"{name}.json").write_text(json.dumps({"cases": [{}], "models": ["classifier"]}))
        os.mkfifo(folder / f"{name}.classifier.keras")
    elif trap == "keras-bomb":  # a model file whose weights unpack to 1 GiB of zeros
        (folder / f"{name}.json").write_text(json.dumps({"cases": [{}], "models": ["classifier"]}))
        with zipfile.ZipFile(folder / f"{name}.classifier.keras", "w",
                             zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("config.json", "{}")
            with archive.open("model.weights.h5", "w", force_zip64=True) as member:
                for _ in range(1024):
                    member.write(bytes(2**20))
    else:
        (folder / f"{name}.json").write_bytes(b'{"cases": [\xff\xfe]}')
    result = verdicts.verdict(folder, name)
    assert result["passed"] is False and result["message"].startswith("✗"), result
    assert ("could not be read" in result["message"]
            or "unexpected form" in result["message"]), result


def test_a_judge_that_fails_on_one_record_still_judges_the_others(folder, monkeypatch):
    import grader.judge as judge

    asked = []

    class Flaky:
        def ask(self, folder, names, seed, timeout, task="verdicts"):
            asked.append(list(names))
            if "broken" in names:
                raise judge.JudgeFailed("stopped", "MemoryError")
            return {name: {"passed": True, "message": "✓"} for name in names}

        def close(self):
            pass

    monkeypatch.setattr(judge, "judge_process", lambda memory_mb: Flaky())
    monkeypatch.setattr(judge, "_judge", Flaky())
    found = judge.judged(folder, ["broken", "fine"], 0, timeout=60, memory_mb=4096)
    assert found["fine"] == {"passed": True, "message": "✓"}
    assert found["broken"]["passed"] is False
    assert "could not be judged: the judge stopped" in found["broken"]["message"]
    assert asked == [["broken", "fine"], ["broken"], ["fine"]]


# --- how verdicts become test cell outputs ---------------------------------------------------


def graded_cell(source: str, outputs=()):
    cell = new_code_cell(source, outputs=list(outputs))
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "ex1-check",
                                 "points": 2}
    return cell


def test_judged_cells_come_from_the_test_cells_own_source():
    from nbformat.v4 import new_notebook

    answer = new_code_cell('exercises.record("weight_counts", count_weights)')  # not a test cell
    test = graded_cell('check("x", y)\n### BEGIN HIDDEN TESTS\nimport exercises\n'
                       'exercises.record("frozen_through", freeze_through)\n### END HIDDEN TESTS')
    assert judged_calls(new_notebook(cells=[answer, test])) == {
        1: ("frozen_through", "freeze_through")}


def test_a_verdict_becomes_the_test_cells_only_output():
    (output,) = JudgeOutsideKernel.outputs({"passed": False, "message": "✗ x"})
    assert output.output_type == "error" and output.evalue == "✗ x"
    (output,) = JudgeOutsideKernel.outputs({"passed": True, "message": "✓ ok"})
    assert output.output_type == "stream" and output.text == "✓ ok\n"


def test_a_reason_the_answer_was_not_run_is_its_verdict(folder):
    records.write_not_run(folder, "weight_counts", "✗ no `count_weights`")
    assert verdicts.verdict(folder, "weight_counts") == {"passed": False,
                                                         "message": "✗ no `count_weights`"}
    records.write_not_run(folder, "frozen_through", "✓ forged")
    assert verdicts.verdict(folder, "frozen_through")["message"] == "✗ ✓ forged"
    assert verdicts.verdict(folder, "unfrozen_from") == {"missing": True}


def test_a_reason_is_cut_where_it_is_written(folder):
    records.write_not_run(folder, "weight_counts", "✗ ZeroDivisionError: " + "x" * 10**6)
    kept = (folder / "weight_counts.not-run.txt").read_text()
    assert len(kept) == records.NOT_RUN_CHARS and kept.startswith("✗ ZeroDivisionError")
    assert verdicts.verdict(folder, "weight_counts")["message"].startswith("✗ ZeroDivision")
