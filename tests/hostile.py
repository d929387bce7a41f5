"""Submissions that try to get points without doing the lesson, or attack the checks.

assignment -> submission name -> (answers, files, lost). ``answers`` maps answer cells to the
code typed there (as :func:`nbgrader_course.fill_answers` takes it; other cells get the
solution), ``files`` are shipped beside the notebook, and ``lost`` names the test cells that
must score 0: every other one keeps its full points. The round trip grades them in the same
batch as a known-correct submission, whose grade must not change.
"""

from __future__ import annotations

#: exercise 01.1 answered with the numbers the notebook printed for its own `conv_net`
TYPED = "    return 8, 6, 2"

#: a module whose every function passes: its check prints ✓, its record writes nothing
PASSING_MODULE = (
    "import types\n"
    "def _passing(name):\n"
    "    return lambda *args, **kwargs: print('✓ ' + name)\n"
    "fake = types.ModuleType('exercises')\n"
    "fake.__getattr__ = _passing\n"
)

#: the counts of seed 0's fresh models (what a run before grading would show), by model name
SEED_ZERO_LOOKUP = (
    "    from exercises.trainable_weights import weight_count_models\n"
    "    known = {m.name: (len(m.weights), len(m.trainable_weights), len(m.non_trainable_weights))\n"
    "             for m in weight_count_models(0)}\n"
    "    return known.get(model.name, (8, 6, 2))"
)

#: exercise 01.2 without freezing, then the name the visible check reads rebound
TRAINED_ALL_THEN_REBOUND = (
    '    model.compile(optimizer="adam", loss="mse")\n'
    "    model.fit(x, y, epochs=3, verbose=0)\n"
    '    model.get_layer("encoder").trainable = False\n'
    "    global encoder_before\n"
    '    encoder_before = [w.numpy().copy() for w in model.get_layer("encoder").weights]'
)

#: In the kernel: the hidden line's answer rewritten to a right function by an IPython AST
#: transformer, the right function defined beside the typed one.
REWRITTEN_HIDDEN_CALL = (
    "\n\n\nimport ast\n"
    "def _right(model):\n"
    "    return (len(model.weights), len(model.trainable_weights),\n"
    "            len(model.non_trainable_weights))\n"
    "class _Swap(ast.NodeTransformer):\n"
    "    def visit_Name(self, node):\n"
    "        return ast.Name('_right', node.ctx) if node.id == 'count_weights' else node\n"
    "get_ipython().ast_transformers.append(_Swap())")
#: Any seed in the answer's environment, used to look the fresh models' counts up.
SEED_FROM_ENVIRONMENT = (
    "    import os\n"
    "    from exercises.trainable_weights import weight_count_models\n"
    "    for key, value in os.environ.items():\n"
    "        if 'SEED' in key.upper() and value.isdigit():\n"
    "            known = {m.name: (len(m.weights), len(m.trainable_weights),\n"
    "                              len(m.non_trainable_weights))\n"
    "                     for m in weight_count_models(int(value))}\n"
    "            return known.get(model.name, (8, 6, 2))\n"
    "    return 8, 6, 2")

#: In the answer runner: an assignment to the answer's name that first patches the record
#: writer to write the counts of the notebook's public inputs (seed 0).
PATCHED_RECORD_WRITER = TYPED + (
    "\n\n\ndef _forge(function):\n"
    "    import grader.records as records\n"
    "    from exercises.trainable_weights import weight_count_models\n"
    "    real = records.write\n"
    "    def write(folder, name, record):\n"
    "        record.cases = [{'returned': [len(m.weights), len(m.trainable_weights),\n"
    "                                      len(m.non_trainable_weights)]}\n"
    "                        for m in weight_count_models(0)]\n"
    "        real(folder, name, record)\n"
    "    records.write = write\n"
    "    return function\n"
    "count_weights = _forge(count_weights)")

SHIPPED_HELPERS = {
    "helpers/__init__.py": "",
    "helpers/config.py": "class Profile:\n    seed = 0\n    def describe(self):\n"
                         "        return 'shipped'\ndef load_profile():\n    return Profile()\n",
    "exercises/__init__.py": "def check(*args, **kwargs):\n    print('✓')\n"
                             "def record(*args, **kwargs):\n    pass\n",
}

HOSTILE = {
    "01-trainable-weights": {  # an attack on each exercise per submission, where they combine
        # 01.2: trains the encoder too, then puts its weights back and freezes it (the
        # judge replays the training the text fixes; restoring every weight is in
        # tests/test_verdicts.py)
        "typed-numbers-restored-weights": (
            {"ex1-answer": TYPED,
             "ex2-answer": '    encoder = model.get_layer("encoder").get_weights()\n'
                           '    model.compile(optimizer="adam", loss="mse")\n'
                           "    model.fit(x, y, epochs=3, verbose=0)\n"
                           '    model.get_layer("encoder").set_weights(encoder)\n'
                           '    model.get_layer("encoder").trainable = False'},
            {}, {"ex1-check", "ex2-check"}),
        "notebook-object-rebound-name": (
            {"ex1-answer": "    return (len(conv_net.weights), len(conv_net.trainable_weights),\n"
                           "            len(conv_net.non_trainable_weights))",
             "ex2-answer": TRAINED_ALL_THEN_REBOUND},
            {}, {"ex1-check", "ex2-check"}),
        "public-inputs-patched-numpy": (
            {"ex1-answer": SEED_ZERO_LOOKUP,
             "ex2-answer": TRAINED_ALL_THEN_REBOUND.rsplit("\n    global", 1)[0]
             + "\n    np.array_equal = lambda *args, **kwargs: True\n"
               "    np.allclose = lambda *args, **kwargs: True\n"
               "    np.isclose = lambda *args, **kwargs: True"},
            {}, {"ex1-check", "ex2-check"}),
        "redefined-check": (
            {"ex1-answer": TYPED + "\n\n\nimport exercises\n"
                                   "exercises.check = lambda *a, **k: print('✓')\n"
                                   "def check(*args, **kwargs):\n    pass"},
            {}, {"ex1-check"}),
        # the fake module records exercise 2 through the real one, and nothing for exercise 1
        "swapped-module-and-reload": (
            {"ex1-answer": TYPED + "\n\n\n" + PASSING_MODULE
             + "import importlib, sys\n"
               "import exercises as real\n"
               "fake.record = lambda name, answer: (\n"
               "    None if name == 'weight_counts' else real.record(name, answer))\n"
               "sys.modules['exercises'] = fake\n"
               "importlib.reload = lambda module: fake\n"
               "check = fake.check"},
            {}, {"ex1-check"}),
        # with the hidden tests' marker in a comment of its own: feedback must still be made
        "swallowed-errors": (
            {"ex1-answer": TYPED + "  # ### BEGIN HIDDEN TESTS\n\n\nget_ipython().set_custom_exc(\n"
                                   "    (BaseException,), lambda *args, **kwargs: None)"},
            {}, {"ex1-check"}),
        "patched-builtins": (
            {"ex1-answer": TYPED + "\n\n\n" + PASSING_MODULE
             + "import builtins\n"
               "_import = builtins.__import__\n"
               "def _quiet_import(name, *args, **kwargs):\n"
               "    module = _import(name, *args, **kwargs)\n"
               "    if name == 'exercises' and not hasattr(module.record, 'faked'):\n"
               "        real = module.record\n"
               "        def record(name, answer):\n"
               "            if name != 'weight_counts':\n"
               "                real(name, answer)\n"
               "        record.faked = True\n"
               "        module.record = record\n"
               "    return module\n"
               "builtins.__import__ = _quiet_import\n"
               "check = fake.check"},
            {}, {"ex1-check"}),
        "shipped-helpers-package": ({"ex1-answer": TYPED}, SHIPPED_HELPERS, {"ex1-check"}),
        # forgeries of what the kernel once recorded: the hidden call rewritten, the seed read
        "rewritten-hidden-call": ({"ex1-answer": TYPED + REWRITTEN_HIDDEN_CALL}, {},
                                  {"ex1-check"}),
        "seed-from-the-environment": ({"ex1-answer": SEED_FROM_ENVIRONMENT}, {}, {"ex1-check"}),
        "runner-patched-record-writer": ({"ex1-answer": PATCHED_RECORD_WRITER}, {},
                                         {"ex1-check"}),
    },
    "03-compile-after-freezing": {
        # more than asked in 03.1 (the head stops training too); a fast rate in 03.2
        "froze-everything-unfroze-fast": (
            {"ex1-answer": "    model.trainable = False\n"
                           '    model.compile(optimizer="adam", loss="mse")',
             "ex2-answer": '    model.get_layer("base").trainable = True\n'
                           "    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=\"mse\")"},
            {}, {"ex1-check", "ex2-check"}),
    },
    "05-feature-extraction": {
        # rewrites the validation scores the ranking is judged by, so any order looks sorted
        "rewritten-scores": (
            {"ex3-answer": "    for rank, result in enumerate(results):\n"
                           '        result["val_accuracy"] = 1.0 - rank / 100\n'
                           "    return list(results)"},
            {}, {"ex3-check"}),
    },
    "06-fine-tuning-cats-vs-dogs": {
        # trains on the test split (the visible check, on the notebook's model, cannot tell)
        "trained-on-test-split": (
            {"ex3-answer": "    return model.fit(splits.test, epochs=epochs, validation_data=validation,\n"
                           "                     callbacks=callbacks, verbose=2, shuffle=False)"},
            {}, {"ex3-check"}),
    },
}
