"""The course's figures: image grids, training curves and a confusion matrix.

Only drawing is here; the numbers drawn (predictions, counts, histories) are computed in the
notebooks, next to the figure.
"""

from __future__ import annotations

import io
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np


def show_images(images: Sequence, titles: Sequence[str], columns: int = 4,
                size: float = 2.6) -> None:
    """A grid of images, each with its title.

    Args:
        images: arrays of shape ``(height, width, 3)``, values in [0, 255] (any dtype) or
            uint8; they may differ in size.
        titles: one per image.
        columns: images per row.
        size: inches per image.
    """
    rows = max(1, -(-len(images) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * size, rows * size * 1.1),
                                squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, image, title in zip(axes.flat, images, titles):
        axis.imshow(np.clip(np.asarray(image), 0, 255).astype("uint8"))
        axis.set_title(title, fontsize=9)
    figure.tight_layout()
    _show_as_jpeg(figure)


def _show_as_jpeg(figure) -> None:
    """Display ``figure`` as a JPEG: photos as PNG would make notebooks megabytes larger."""
    from IPython.display import Image, display

    buffer = io.BytesIO()
    figure.savefig(buffer, format="jpeg", dpi=80, pil_kwargs={"quality": 85})
    plt.close(figure)
    display(Image(buffer.getvalue(), format="jpeg"))


def plot_fine_tuning_history(head_history, fine_history, metric: str = "binary_accuracy") -> None:
    """Loss and ``metric`` per epoch, training and validation, for both phases of training.

    The two ``keras.callbacks.History`` objects are drawn end to end, and a dashed line marks
    the epoch where fine-tuning started.
    """
    head_epochs = len(head_history.epoch)
    figure, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for axis, key in zip(axes, ["loss", metric]):
        for prefix, label, style in [("", "training", "-o"), ("val_", "validation", "-s")]:
            values = head_history.history[prefix + key] + fine_history.history[prefix + key]
            axis.plot(range(1, len(values) + 1), values, style, label=label, markersize=4)
        axis.axvline(head_epochs + 0.5, color="gray", linestyle="--", label="fine-tuning starts")
        axis.set_xlabel("epoch")
        axis.set_title(key)
        axis.grid(alpha=0.3)
    axes[0].legend()
    figure.tight_layout()
    plt.show()


def plot_confusion_matrix(counts: np.ndarray, class_names: Sequence[str]) -> None:
    """A confusion matrix: ``counts[i, j]`` images of true class ``i`` predicted as ``j``."""
    counts = np.asarray(counts)
    figure, axis = plt.subplots(figsize=(3.8, 3.4))
    axis.imshow(counts, cmap="Blues")
    for (row, column), count in np.ndenumerate(counts):
        dark = count > counts.max() / 2
        axis.text(column, row, str(count), ha="center", va="center",
                  color="white" if dark else "black", fontsize=12)
    ticks = range(len(class_names))
    axis.set_xticks(ticks, [f"predicted {name}" for name in class_names])
    axis.set_yticks(ticks, [f"true {name}" for name in class_names])
    figure.tight_layout()
    plt.show()
