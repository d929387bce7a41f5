"""One plausible mistake per exercise, as a learner would type it in the answer cell.

assignment -> answer cell grade_id -> code. The round trip checks that each mistake loses
exactly the points of its own exercise (the check cell of the same number).
"""

MISTAKES = {
    "01-trainable-weights": {
        # counted BatchNormalization's moving statistics as trainable
        "ex1-answer": "    return len(model.weights), len(model.weights), 0",
        # froze the wrong layer
        "ex2-answer": '    model.get_layer("classifier").trainable = False\n'
                      '    model.compile(optimizer="adam", loss="mse")\n'
                      "    model.fit(x, y, epochs=3, verbose=0)",
    },
    "02-recursive-freezing": {
        # typed the historical layer count instead of finding the cut by name
        "ex1-answer": "    base.trainable = True\n"
                      "    for layer in base.layers[:172]:\n"
                      "        layer.trainable = False",
        # matched the block by name prefix: the blocks after it stay frozen
        "ex2-answer": "    base.trainable = True\n"
                      "    for layer in base.layers:\n"
                      '        layer.trainable = layer.name.startswith(first_trainable.rsplit("_", 1)[0])',
    },
    "03-compile-after-freezing": {
        # froze but forgot to recompile
        "ex1-answer": '    model.get_layer("base").trainable = False',
        # unfroze but forgot to recompile
        "ex2-answer": '    model.get_layer("base").trainable = True',
    },
    "04-batchnorm-pitfalls": {
        # unfroze the base but left its BatchNormalization layers in training mode
        "ex1-answer": "    base.trainable = True\n    compile_binary(model, 1e-5)",
        # unfroze the top layers, BatchNormalization included
        "ex2-answer": "    base.trainable = True\n"
                      "    for layer in base.layers[:-n_top]:\n"
                      "        layer.trainable = False",
    },
    "05-feature-extraction": {
        # read the data twice: the shuffled training split comes back in another order
        "ex1-answer": "    features = feature_extractor.predict(dataset, verbose=0)\n"
                      "    labels = np.concatenate([np.asarray(y) for _, y in dataset])\n"
                      "    return features, labels",
        # accuracy left at its 0.5 threshold (right for probabilities) on a logit output
        "ex2-answer": "    head = keras.Sequential([keras.Input(train_features.shape[1:]),\n"
                      "                             keras.layers.Dropout(0.2),\n"
                      "                             keras.layers.Dense(1)])\n"
                      "    head.compile(optimizer=keras.optimizers.Adam(1e-3),\n"
                      "                 loss=keras.losses.BinaryCrossentropy(from_logits=True),\n"
                      "                 metrics=[\"accuracy\"])\n"
                      "    history = head.fit(train_features, train_labels, epochs=epochs,\n"
                      "                       validation_data=(val_features, val_labels), verbose=0)\n"
                      "    return head, history",
        # sorted the wrong way round: the worst head first
        "ex3-answer": '    return sorted(results, key=lambda result: result["val_accuracy"])',
    },
    "06-fine-tuning-cats-vs-dogs": {
        # called the base without training=False
        "ex1-answer": "    base.trainable = False\n"
                      "    inputs = keras.Input(shape=(image_size, image_size, 3))\n"
                      "    x = keras.layers.Rescaling(scale=1 / 127.5, offset=-1)(inputs)\n"
                      "    x = base(x)\n"
                      "    x = keras.layers.GlobalAveragePooling2D()(x)\n"
                      "    x = keras.layers.Dropout(0.2)(x)\n"
                      "    return keras.Model(inputs, keras.layers.Dense(1)(x))",
        # unfroze and recompiled, but left BatchNormalization trainable (in training mode)
        "ex2-answer": "    base.trainable = True\n"
                      "    compile_for_training(model, learning_rate)",
        # validated on the test split, so the test score no longer measures unseen data
        "ex3-answer": "    return model.fit(train, epochs=epochs, validation_data=splits.test,\n"
                      "                     callbacks=callbacks, verbose=2, shuffle=False)",
    },
    "07-fine-tuning-your-own-images": {
        # drew the images one by one: the crops of one photo land in two splits
        "ex1-answer": "    rng = random.Random(seed)\n"
                      "    validation, test = held_out['validation'], held_out['test']\n"
                      "    return ['validation' if r < validation else 'test' if r < validation + test\n"
                      "            else 'train' for r in (rng.random() for _ in photos)]",
        # typed this dataset's class count: right for 27 logos only
        "ex2-answer": "    inputs = keras.Input(shape=base.input_shape[1:])\n"
                      "    x = base(preprocessing(inputs), training=False)\n"
                      "    x = keras.layers.GlobalAveragePooling2D()(x)\n"
                      "    x = keras.layers.Dropout(0.2)(x)\n"
                      '    outputs = keras.layers.Dense(27, activation="softmax", name="head")(x)\n'
                      "    return keras.Model(inputs, outputs)",
        # one loss for every label mode
        "ex3-answer": "    return keras.losses.SparseCategoricalCrossentropy()",
    },
    "08-fine-tuning-toolkit": {
        # cut at the layer named exactly `block`, BatchNormalization left trainable
        "ex1-answer": "    base.trainable = True\n"
                      "    start = [layer.name for layer in base.layers].index(block)\n"
                      "    for layer in base.layers[:start]:\n"
                      "        layer.trainable = False",
        # the point before the first one above the line: a noisy bump stops it early
        "ex2-answer": "    level = np.median(smoothed[:len(rates) // 3])\n"
                      "    return float(rates[np.argmax(smoothed > 1.1 * level) - 1])",
        # one Adam at the head's rate for every layer
        "ex3-answer": "    return keras.optimizers.Adam(head_learning_rate)",
    },
}
