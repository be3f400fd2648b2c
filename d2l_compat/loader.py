"""The data a chapter trains on: Fashion-MNIST in memory, in minibatches, per run mode.

Framework-free: :func:`load_data_fashion_mnist` is D2L's loader with a ``convert`` that
a room supplies (numpy batches -> the framework's arrays); :class:`ArrayBatches` reshuffles
every epoch with a seeded generator, so epoch ``e`` of seed ``s`` always has the same
order. The arrays come from :mod:`d2l_compat.fetch`.
"""

from __future__ import annotations

import numpy as np

from d2l_compat.arrays import as_numpy
from d2l_compat.checks import check_int
from d2l_compat.context import DEFAULT_SEED, check_mode, current
from d2l_compat.fetch import IMAGE_SHAPE, NUM_CLASSES, SPLIT_SIZES, TEXT_LABELS, load_fashion_mnist

# The fixed, class-balanced subsets of the modes other than full (see context.run_mode):
# class mode is sized so that a chapter trains in minutes, smoke only checks code paths.
SUBSET_SIZES = {
    "class": {"train": 5_000, "test": 2_000},
    "smoke": {"train": 2_000, "test": 1_000},
}


def get_fashion_mnist_labels(labels) -> list[str]:
    """Text labels of numeric labels (D2L's name): a list, or an array of any framework.

    >>> get_fashion_mnist_labels([0, 9])
    ['t-shirt', 'ankle boot']
    """
    return [TEXT_LABELS[int(i)] for i in as_numpy(labels).reshape(-1)]


def balanced_subset(y: np.ndarray, size: int) -> np.ndarray:
    """Indices of the first ``size // 10`` examples of every class (a fixed subset)."""
    per_class = size // NUM_CLASSES
    return np.sort(np.concatenate([np.flatnonzero(y == c)[:per_class]
                                   for c in range(NUM_CLASSES)]))


def resize_images(X: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a batch of HxW images (vectorised, float32 in, float32 out)."""
    out_h, out_w = (size, size) if isinstance(size, int) else size
    in_h, in_w = X.shape[-2:]

    def grid(n_out, n_in):  # align-corners=False sampling positions, as in torchvision
        pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        low = np.floor(pos).astype(int)
        return low, np.minimum(low + 1, n_in - 1), (pos - low).astype(np.float32)

    r0, r1, wr = grid(out_h, in_h)
    c0, c1, wc = grid(out_w, in_w)
    rows = X[..., r0, :] * (1 - wr)[:, None] + X[..., r1, :] * wr[:, None]
    return rows[..., c0] * (1 - wc) + rows[..., c1] * wc


class ArrayBatches:
    """Minibatches of in-memory arrays, reshuffled every epoch by a seeded generator.

    Iterating yields ``(X, y)`` numpy batches; epoch ``e`` of a loader seeded with ``s``
    always has the same order, whatever was iterated before, so runs can resume.
    ``convert`` turns each numpy batch into the framework's arrays. ``source`` and
    ``split_reconstructed`` say where the arrays came from (see :class:`FashionMNIST`);
    ``train`` records them in its History.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool,
                 seed: int = DEFAULT_SEED, convert=None, source: str | None = None,
                 split_reconstructed: bool | None = None):
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.X, self.y = X, y
        self.source = source  # where the data came from, recorded in every History
        self.split_reconstructed = split_reconstructed
        self.shuffle, self.seed = shuffle, seed
        self.convert = convert or (lambda X, y: (X, y))
        self.epoch = 0

    def __len__(self) -> int:
        return -(-len(self.y) // self.batch_size)

    @property
    def num_examples(self) -> int:
        return len(self.y)

    def order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(len(self.y))
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.y))

    def batches(self, epoch: int):
        """The batches of epoch ``epoch`` (what training loops use: resumable, repeatable)."""
        order = self.order(epoch)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            yield self.convert(self.X[idx], self.y[idx])

    def __iter__(self):  # plain iteration walks epochs 0, 1, 2, ... like a DataLoader
        self.epoch += 1
        return self.batches(self.epoch - 1)


def epoch_batches(loader, epoch: int):
    """Batches of ``epoch`` from one of our loaders, or plain iteration of any other."""
    return loader.batches(epoch) if hasattr(loader, "batches") else iter(loader)


def cycle_batches(loader):
    """Minibatches of epochs 0, 1, 2, ... of ``loader``, without end (for LR sweeps)."""
    if len(loader) == 0:
        raise ValueError("train_iter has no minibatches")
    epoch = 0
    while True:
        yield from epoch_batches(loader, epoch)
        epoch += 1


def check_class_train(class_train) -> int | None:
    """``class_train`` if it is None or a multiple of 10 in 10 .. 60,000, else ValueError."""
    if class_train is not None:
        check_int("class_train", class_train, minimum=NUM_CLASSES)
        if class_train > SPLIT_SIZES["train"] or class_train % NUM_CLASSES:
            raise ValueError(f"class_train must be a multiple of {NUM_CLASSES} (the subset "
                             f"has as many images of every class) of at most "
                             f"{SPLIT_SIZES['train']:,}, got {class_train}")
    return class_train


def fashion_mnist_arrays(resize=None, layout: str = "NCHW", mode: str | None = None,
                         class_train: int | None = None):
    """Float32 images scaled to [0, 1] in ``layout`` and int32 labels, per split.

    In class and smoke mode (``mode``, by default the run mode ``D2L_MODE``) a fixed
    class-balanced subset of the size ``SUBSET_SIZES[mode]`` is returned. ``class_train``
    sets the size of the class-mode training subset instead (other modes ignore it): a
    chapter whose lesson needs more updates per epoch asks for more images. The subsets
    are nested: a larger one holds every image of a smaller one.
    """
    if layout not in ("NCHW", "NHWC"):
        raise ValueError(f"layout must be 'NCHW' or 'NHWC', got {layout!r}")
    mode = current().mode if mode is None else check_mode(mode, "mode")
    check_class_train(class_train)
    data = load_fashion_mnist()
    splits = {}
    for split, X, y in (("train", data.X_train, data.y_train), ("test", data.X_test, data.y_test)):
        if mode in SUBSET_SIZES:
            size = SUBSET_SIZES[mode][split]
            if mode == "class" and split == "train" and class_train is not None:
                size = class_train
            idx = balanced_subset(y, size)
            X, y = X[idx], y[idx]
        X = X.astype(np.float32) / 255.0
        if resize:
            X = resize_images(X, resize)
        X = X[:, None] if layout == "NCHW" else X[..., None]
        splits[split] = (np.ascontiguousarray(X), y.astype(np.int32))
    return splits, data


def load_data_fashion_mnist(batch_size: int, resize=None, layout: str = "NCHW",
                            convert=None, seed: int = DEFAULT_SEED, loader=None,
                            mode: str | None = None, class_train: int | None = None):
    """D2L's loader, framework-free: (train_iter, test_iter) of in-memory batches.

    ``loader`` is the class of the two iterables, :class:`ArrayBatches` or a subclass
    (a room's, e.g. one that Keras' ``fit`` also accepts). ``mode`` chooses the data of
    another run mode than the current one (``"full"``: the whole data set);
    ``class_train`` the size of the class-mode training subset (see
    :func:`fashion_mnist_arrays`).
    """
    loader = loader or ArrayBatches
    splits, data = fashion_mnist_arrays(resize=resize, layout=layout, mode=mode,
                                        class_train=class_train)
    provenance = dict(convert=convert, source=data.source,
                      split_reconstructed=data.split_reconstructed)
    train_iter = loader(*splits["train"], batch_size, shuffle=True, seed=seed, **provenance)
    test_iter = loader(*splits["test"], batch_size, shuffle=False, **provenance)
    return train_iter, test_iter
