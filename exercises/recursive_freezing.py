"""Notebook 02, recursive freezing: freeze a base through a layer, or unfreeze it from one.

* 02.1 ``frozen_through``: ``freeze_through(base, last_frozen)`` freezes every layer up to and
  including the one named ``last_frozen``, and leaves the later layers trainable.
* 02.2 ``unfrozen_from``: ``unfreeze_from(base, first_trainable)`` freezes every layer before
  the one named ``first_trainable`` and leaves it and all later layers trainable.

The cut is found from the layer's name, here and in the learner's answer: layer indices
change between Keras versions (InceptionV3's historical 172 now splits a convolution from its
BatchNormalization), names of the block boundaries do not.
"""

from __future__ import annotations

import numpy as np

from exercises.checks import checked, expect_layer, fail, frozen_layers, names, trainable_layers
from exercises.inputs import (SMALL_CNN_NAMES, BaseCase, all_trainable, frozen_whole, pick,
                              small_cnn, small_mobilenet_v2)
from exercises.kinds import FlagsExercise

#: Names a cut may fall on: MobileNetV2's residual additions and expansions, which end and
#: start its blocks.
MOBILENET_V2_ADDS = [f"block_{k}_add" for k in [2, 4, 5, 7, 8, 9, 11, 12, 14, 15]]
MOBILENET_V2_EXPANDS = [f"block_{k}_expand" for k in range(1, 17)]


def _frozen_prefix(layers) -> int | None:
    """``k`` when exactly ``layers[:k]`` are frozen and the rest trainable, else None."""
    flags = [layer.trainable for layer in layers]
    k = flags.index(True) if True in flags else len(flags)
    return k if all(flags[k:]) else None


def _cut_hint(base, cut: int, cut_code: str, off_by_one: str, otherwise: str) -> str:
    """The hint for 02.1 and 02.2 that matches the cut the learner made instead."""
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


def _expect_named_layer(base, name: str) -> list[str]:
    expect_layer(base, "base")
    layer_names = [layer.name for layer in base.layers]
    if name not in layer_names:
        fail("the named layer exists", name, "no layer of that name",
             "print [layer.name for layer in base.layers] to see the names.")
    return layer_names


# --- 02.1 freeze through a layer ----------------------------------------------------------


@checked("the named layer and every layer below it frozen, the layers above it trainable")
def check_frozen_through(base, last_frozen: str) -> None:
    """Layers up to and including ``last_frozen`` frozen, all later trainable."""
    layer_names = _expect_named_layer(base, last_frozen)
    cut = layer_names.index(last_frozen) + 1
    still_trainable = trainable_layers(base.layers[:cut])
    still_frozen = frozen_layers(base.layers[cut:])
    if still_trainable or still_frozen:
        fail(
            f"layers up to {last_frozen!r} (index {cut - 1}) frozen, every later layer trainable",
            f"{cut} frozen, {len(layer_names) - cut} trainable",
            f"trainable up to it: {names(still_trainable)}; "
            f"frozen after it: {names(still_frozen)}",
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


class FrozenThrough(FlagsExercise):
    """02.1 on a frozen MobileNetV2 and a trainable small CNN, at names drawn from the seed."""

    name = "frozen_through"

    def check(self, base, last_frozen: str) -> None:
        check_frozen_through(base, last_frozen)

    def inputs(self, seed: int) -> list[BaseCase]:
        rng = np.random.default_rng(seed + 1)
        return [BaseCase(small_mobilenet_v2, frozen_whole, pick(rng, MOBILENET_V2_ADDS)),
                BaseCase(small_cnn, all_trainable, pick(rng, SMALL_CNN_NAMES))]


# --- 02.2 unfreeze from a layer ------------------------------------------------------------


@checked("layers before the named one frozen, from it onward trainable")
def check_unfrozen_from(base, first_trainable: str) -> None:
    """Every layer before ``first_trainable`` frozen, it and all after trainable."""
    layer_names = _expect_named_layer(base, first_trainable)
    start = layer_names.index(first_trainable)
    still_trainable = trainable_layers(base.layers[:start])
    still_frozen = frozen_layers(base.layers[start:])
    if still_trainable or still_frozen or not base.trainable:
        fail(
            f"layers before {first_trainable!r} frozen, it and all later layers trainable",
            f"{start} frozen, {len(layer_names) - start} trainable, base.trainable == True",
            f"trainable before it: {names(still_trainable)}; "
            f"frozen from it onward: {names(still_frozen)}; base.trainable == {base.trainable}",
            _cut_hint(base, start, f"names.index({first_trainable!r})",
                      f"the layer named {first_trainable!r} is trainable itself, so the cut is "
                      "at its index",
                      "A name test like startswith('block_13') misses the blocks after 13."),
        )


class UnfrozenFrom(FlagsExercise):
    """02.2 on a frozen MobileNetV2 and a trainable small CNN, at names drawn from the seed."""

    name = "unfrozen_from"

    def check(self, base, first_trainable: str) -> None:
        check_unfrozen_from(base, first_trainable)

    def inputs(self, seed: int) -> list[BaseCase]:
        rng = np.random.default_rng(seed + 2)
        return [BaseCase(small_mobilenet_v2, frozen_whole, pick(rng, MOBILENET_V2_EXPANDS)),
                BaseCase(small_cnn, all_trainable, pick(rng, SMALL_CNN_NAMES))]
