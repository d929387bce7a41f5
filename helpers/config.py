"""Course profiles: the settings every notebook reads, so the same code runs everywhere.

* ``full``: the Keras transfer-learning guide's exact setup (Xception on TFDS
  ``cats_vs_dogs``), for a machine with a GPU and internet.
* ``quick``: MobileNet v1 (alpha 0.25) on ``cats_and_dogs_filtered``: real images and real
  ImageNet weights, minutes on a laptop CPU, and it runs offline from the course mirror.
* ``smoke``: ``quick`` shrunk (96x96, 160 images a split, 2 epochs a phase) for the test
  suite's nbgrader round trip, which executes each notebook once per graded submission.
  Its accuracies mean nothing; it is only ever chosen by name.

``COURSE_PROFILE=full|quick|smoke`` chooses; otherwise ``full`` when TensorFlow sees a GPU,
else ``quick``. ``COURSE_SEED=<integer>`` replaces the profile's seed: the same notebook
under other seeds (other splits, other initial weights), to see how much a result owes to
the draw (``make bench`` runs notebook 08 so).
"""

from __future__ import annotations

from helpers import import_tensorflow_quietly

import_tensorflow_quietly()  # before anything imports TensorFlow or Keras

import dataclasses
import os

from helpers import assets

PROFILE_ENV = "COURSE_PROFILE"
SEED_ENV = "COURSE_SEED"


@dataclasses.dataclass(frozen=True)
class LogoSettings:
    """Notebooks 07 and 08's settings: Flickr Logos 27's box crops.

    Attributes:
        base: key of :data:`helpers.models.BASES`.
        image_size: crops are resized to ``image_size x image_size``.
        head_steps: the head's training budget in optimizer steps (batches), whatever the
            folder's size: its epochs are this many steps over the batches of one epoch, so
            a small folder gets as many updates as a large one (EarlyStopping may stop
            sooner).
        fine_tune_epochs: the epochs of each fine-tuning run (its schedule's length).
        blocks: the blocks to fine-tune from, the later (fewer layers unfrozen) first.
        range_test_batches: batches of the learning-rate range test (one rate each).
        images_per_class: if set, each split keeps at most this many images of a class.
    """

    base: str
    image_size: int
    head_steps: int
    fine_tune_epochs: int
    blocks: tuple[str, str]
    range_test_batches: int = 50
    images_per_class: int | None = None


LOGOS: dict[str, LogoSettings] = {
    # The source example's VGG16 at its native 224x224.
    "full": LogoSettings(base="vgg16", image_size=224, head_steps=600, fine_tune_epochs=20,
                         blocks=("block5", "block4")),
    # 112x112 crops: 4x fewer pixels than 224 (the README's trial runs: 224 gained 5.6
    # points of test accuracy for 3x the time), so the notebook runs in minutes on 2 cores.
    # 360 steps: 12 epochs of the logos' 30 batches.
    "quick": LogoSettings(base="mobilenet_v1_025", image_size=112, head_steps=360,
                          fine_tune_epochs=8, blocks=("conv_dw_12", "conv_dw_8")),
    "smoke": LogoSettings(base="mobilenet_v1_025", image_size=48, head_steps=3,
                          fine_tune_epochs=1, blocks=("conv_dw_12", "conv_dw_8"),
                          range_test_batches=10, images_per_class=3),
}


@dataclasses.dataclass(frozen=True)
class Profile:
    """Settings of one profile.

    Attributes:
        name: ``"full"`` or ``"quick"``.
        base: key of :data:`helpers.models.BASES`, the pretrained base to fine-tune.
        dataset: ``"tfds:cats_vs_dogs"`` or a key of :data:`helpers.assets.DATASET_URLS`.
        image_size: images are resized to ``image_size x image_size``.
        batch_size: batch size for training and evaluation.
        head_epochs: epochs to train the new head on the frozen base.
        head_learning_rate: Adam learning rate for training the head.
        fine_tune_epochs: epochs to fine-tune after unfreezing.
        fine_tune_learning_rate: Adam learning rate for fine-tuning.
        min_validation_accuracy: validation accuracy below which notebook 06's check says
            fine-tuning damaged the model (a guard: the head alone may already reach it).
        seed: passed to ``keras.utils.set_random_seed``.
        images_per_split: if set, each split is cut to this many images (a seeded,
            class-mixed draw); ``None`` keeps every image.
        demo_images: images per split in notebook 04's BatchNormalization demonstrations.
        logos: notebooks 07 and 08's settings (their own base, size and epochs).
    """

    name: str
    base: str
    dataset: str
    image_size: int
    batch_size: int
    head_epochs: int
    fine_tune_epochs: int
    head_learning_rate: float = 1e-3
    fine_tune_learning_rate: float = 1e-5
    min_validation_accuracy: float = 0.95
    seed: int = 1337
    images_per_split: int | None = None
    demo_images: int = 400
    logos: LogoSettings = dataclasses.field(default_factory=lambda: LOGOS["quick"])

    def describe(self) -> str:
        """One line for the top of a notebook (no paths, so stored outputs stay portable)."""
        source = "offline mirror" if assets.mirror_root() else "official downloads"
        return (
            f"profile {self.name!r}: base {self.base}, dataset {self.dataset}, "
            f"{self.image_size}x{self.image_size}, batch {self.batch_size}, "
            f"epochs {self.head_epochs}+{self.fine_tune_epochs}; weights and data from {source}"
        )


PROFILES: dict[str, Profile] = {
    # The Keras guide's exact run: batch 64, the head 2 epochs at Adam's default 1e-3, then
    # fine-tuning 1 epoch at 1e-5.
    "full": Profile(
        name="full",
        base="xception",
        dataset="tfds:cats_vs_dogs",
        image_size=150,
        batch_size=64,
        head_epochs=2,
        fine_tune_epochs=1,
        logos=LOGOS["full"],
    ),
    "quick": Profile(
        name="quick",
        base="mobilenet_v1_025",
        dataset="cats_and_dogs_filtered",
        image_size=224,
        batch_size=32,
        # 2,000 training images instead of the guide's ~9,300, so more epochs for each phase,
        # and a head learning rate 10x the guide's (trial runs in the README: at 1e-3 the head
        # reached only 92.8% test accuracy in 5 epochs). Fine-tuning at the guide's 1e-5, up
        # to 5 epochs, with EarlyStopping keeping the best one.
        head_epochs=5,
        fine_tune_epochs=5,
        head_learning_rate=1e-2,
        min_validation_accuracy=0.93,
    ),
}
# The test suite's round trip: quick's code paths and checks, on little data.
PROFILES["smoke"] = dataclasses.replace(
    PROFILES["quick"], name="smoke", image_size=96, head_epochs=2, fine_tune_epochs=2,
    min_validation_accuracy=0.6, images_per_split=160, demo_images=64, logos=LOGOS["smoke"],
)


def gpu_available() -> bool:
    """Whether TensorFlow sees a GPU."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def load_profile(name: str | None = None) -> Profile:
    """The active profile, with offline assets wired up when ``COURSE_ASSETS`` is set.

    Args:
        name: ``"full"`` or ``"quick"``; default ``COURSE_PROFILE``, else by GPU presence.

    Raises:
        ValueError: an unknown profile name, or a ``COURSE_SEED`` that is not an integer.
    """
    name = name or os.environ.get(PROFILE_ENV) or ("full" if gpu_available() else "quick")
    if name not in PROFILES:
        raise ValueError(
            f"unknown course profile {name!r} (from {PROFILE_ENV} or the argument); "
            f"choose one of {sorted(PROFILES)}"
        )
    assets.use_offline_assets()
    seed = os.environ.get(SEED_ENV, "").strip()
    if not seed:
        return PROFILES[name]
    try:
        return dataclasses.replace(PROFILES[name], seed=int(seed))
    except ValueError:
        raise ValueError(f"{SEED_ENV} must be an integer, found {seed!r}") from None
