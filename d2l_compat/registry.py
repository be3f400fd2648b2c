"""The two registries of the suite: its frameworks and its chapters.

Every list of frameworks or chapters in the library, the tooling and the tests reads
from here, so adding a fifth framework (or a chapter) means one entry here plus its room
module (or its source), and nothing else. Importing this module imports no framework.

>>> FRAMEWORKS
('pytorch', 'tensorflow', 'mxnet', 'jax')
>>> framework("jax").room, framework("jax").layout
('jax', 'NHWC')
>>> [c.name for c in CHAPTERS]
['lenet', 'lr_scheduler', 'warmup_cosine', 'lr_finder']
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Framework:
    """One framework of the suite.

    Attributes:
      name (str): the name used everywhere (folders, results, tags): ``"pytorch"``.
      room (str): its room, ``d2l_compat.<room>``, which is also the package it imports
        (``"torch"``).
      title (str): how prose and the book's tabs name it (``"PyTorch"``).
      packages (tuple[str, ...]): the distributions whose versions change its numbers
        (recorded with every grid execution; numpy is always added).
      extra (str): the pyproject extra that installs it (``pip install -e '.[torch]'``).
      gpu_extra (str): the pyproject extra that installs its CUDA build.
      layout (str): the image layout its room trains in, ``"NCHW"`` or ``"NHWC"``.
      label_dtype (str): the numpy dtype of the labels its loader yields.
      lr_dtype (str): the precision in which its optimizer keeps the lr (``"float32"``:
        the lr read back equals a float64 schedule to about 1e-7 only).
    """

    name: str
    room: str
    title: str
    packages: tuple[str, ...]
    extra: str
    gpu_extra: str
    layout: str
    label_dtype: str
    lr_dtype: str


@dataclass(frozen=True)
class Chapter:
    """One chapter of the book (``chapters/<name>.md``), in reading order.

    Attributes:
      name (str): the source's stem, also the results' file name (``"lr_scheduler"``).
      title (str): the title of its results table.
      seeds (tuple[int, ...]): the seeds ``make reproduce`` executes it for in full mode.
    """

    name: str
    title: str
    seeds: tuple[int, ...] = (0,)


FRAMEWORK_REGISTRY: tuple[Framework, ...] = (
    Framework("pytorch", "torch", "PyTorch", ("torch",), "torch", "torch-gpu", "NCHW",
              "int64", "float64"),
    Framework("tensorflow", "tensorflow", "TensorFlow", ("tensorflow-cpu", "tensorflow", "keras"),
              "tensorflow", "tensorflow-gpu", "NHWC", "int32", "float32"),
    Framework("mxnet", "mxnet", "MXNet", ("mxnet",), "mxnet", "mxnet-gpu", "NCHW", "int32",
              "float64"),
    Framework("jax", "jax", "JAX", ("jax", "jaxlib", "flax", "optax"), "jax", "jax-gpu", "NHWC",
              "int32", "float32"),
)
CHAPTERS: tuple[Chapter, ...] = (
    Chapter("lenet", "LeNet on Fashion-MNIST (constant lr 0.3, 30 epochs)"),
    Chapter("lr_scheduler", "Learning Rate Scheduling (30 epochs each)", seeds=(0, 1, 2)),
    Chapter("warmup_cosine", "Warmup, hold and cosine decay"),
    Chapter("lr_finder", "Finding a learning rate"),
)

FRAMEWORKS: tuple[str, ...] = tuple(f.name for f in FRAMEWORK_REGISTRY)
"""The framework names, in the order of every table and of the book's tabs."""
ROOMS: dict[str, str] = {f.name: f.room for f in FRAMEWORK_REGISTRY}
"""Framework name -> its room, ``d2l_compat.<room>`` (and the package it imports)."""
CHAPTER_NAMES: tuple[str, ...] = tuple(c.name for c in CHAPTERS)
"""The chapter names in reading order."""


def framework(name: str) -> Framework:
    """The registry entry of framework ``name``; ``ValueError`` naming the choices."""
    for entry in FRAMEWORK_REGISTRY:
        if entry.name == name:
            return entry
    raise ValueError(f"framework must be one of {FRAMEWORKS}, got {name!r}")


def chapter(name: str) -> Chapter:
    """The registry entry of chapter ``name``; ``ValueError`` naming the choices."""
    for entry in CHAPTERS:
        if entry.name == name:
            return entry
    raise ValueError(f"chapter must be one of {CHAPTER_NAMES}, got {name!r}")
