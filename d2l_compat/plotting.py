"""Plots for the notebooks: D2L's ``plot``, ``set_figsize``, ``Animator``, ``show_images``.

Nothing here changes matplotlib's global rcParams: the default figure size is this
module's own setting, passed explicitly to every figure it makes.
"""

from __future__ import annotations

import time

import numpy as np

from d2l_compat.arrays import as_float, as_numpy
from d2l_compat.checks import check_int, check_number

_DEFAULTS = {"figsize": (3.5, 2.5)}


def set_figsize(figsize=(3.5, 2.5)) -> None:
    """Set the default size of the figures this module makes (no rcParams change)."""
    width, height = figsize
    if width <= 0 or height <= 0:
        raise ValueError(f"figsize must be positive, got {figsize!r}")
    _DEFAULTS["figsize"] = (float(width), float(height))


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def set_axes(axes, xlabel=None, ylabel=None, xlim=None, ylim=None, xscale="linear",
             yscale="linear", legend=None) -> None:
    """Label, scale and limit a matplotlib Axes (D2L's set_axes)."""
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_xscale(xscale)
    axes.set_yscale(yscale)
    if xlim is not None:
        axes.set_xlim(xlim)
    if ylim is not None:
        axes.set_ylim(ylim)
    if legend:
        axes.legend(legend)
    axes.grid(True)


def _as_series(X, Y):
    """D2L's plot accepts one or many series, with or without x values."""
    def has_one_axis(v):
        return (hasattr(v, "ndim") and v.ndim == 1) or (
            isinstance(v, list) and (not v or not hasattr(v[0], "__len__")))

    if has_one_axis(X):
        X = [X]
    if Y is None:
        X, Y = [[]] * len(X), X
    elif has_one_axis(Y):
        Y = [Y]
    if len(X) != len(Y):
        X = X * len(Y)
    return X, Y


def plot(X, Y=None, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None,
         xscale="linear", yscale="linear", fmts=("-", "m--", "g-.", "r:"), figsize=None,
         axes=None):
    """Plot data points (D2L's plot); returns the Axes.

    ``X`` and ``Y`` are one series or a list of series; a series is a list of numbers or
    a 1-D array of any framework (torch, TensorFlow, MXNet ``nd``/``np``, JAX, numpy),
    converted with :func:`d2l_compat.arrays.as_numpy`, e.g. D2L's
    ``d2l.plot(d2l.arange(n), [scheduler(t) for t in range(n)])``.
    """
    if axes is None:
        import matplotlib.pyplot as plt
        _, axes = plt.subplots(figsize=figsize or _DEFAULTS["figsize"])
    for x, y, fmt in zip(*_as_series(X, Y), fmts * 10):
        x, y = as_numpy(x).astype(float), as_numpy(y).astype(float)
        axes.plot(x, y, fmt) if len(x) else axes.plot(y, fmt)
    set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend)
    return axes


def show_images(imgs, num_rows, num_cols, titles=None, scale=1.5):
    """A grid of images with optional titles (D2L's show_images); returns the Axes."""
    import matplotlib.pyplot as plt
    _, axes = plt.subplots(num_rows, num_cols,
                           figsize=(num_cols * scale, num_rows * scale))
    axes = np.asarray(axes).flatten()
    for i, (ax, img) in enumerate(zip(axes, imgs)):
        ax.imshow(as_numpy(img).squeeze(), cmap="gray")
        ax.axes.get_xaxis().set_visible(False)
        ax.axes.get_yaxis().set_visible(False)
        if titles:
            ax.set_title(titles[i])
    return axes


class Animator:
    """Draw data incrementally (D2L's Animator).

    In Jupyter the figure is shown once and updated in place; outside Jupyter it only
    records the points (``X[i]``, ``Y[i]`` for series ``i``), so scripts and tests can
    use it. ``close()`` releases the figure. The keyword arguments are D2L's; as in
    D2L, ``nrows`` x ``ncols`` subplots are made and the series are drawn in the first.

    ``min_interval`` (float >= 0, seconds; default 0: every ``add`` redraws, as D2L's):
    redraw at most that often; a point added in between is drawn at the next redraw or by
    ``close()``, so the last figure shows every point. Drawing a figure takes about a
    tenth of a second, which matters when the epochs are short (``fit`` uses 1 s).
    """

    def __init__(self, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None,
                 xscale="linear", yscale="linear", fmts=("-", "m--", "g-.", "r:"),
                 nrows=1, ncols=1, figsize=None, live: bool | None = None,
                 min_interval: float = 0.0):
        for name, value in (("nrows", nrows), ("ncols", ncols)):
            check_int(name, value, minimum=1)
        self.min_interval = check_number("min_interval", min_interval, minimum=0.0)
        self._drawn_at, self._pending = None, False
        self.live = _in_notebook() if live is None else live
        self.legend = list(legend or [])
        self.axes_config = dict(xlabel=xlabel, ylabel=ylabel, xlim=xlim, ylim=ylim,
                                xscale=xscale, yscale=yscale, legend=self.legend)
        self.fmts, self.X, self.Y = fmts, None, None
        self.title = None  # drawn above the axes, e.g. the progress of a training run
        self.fig = self.axes = self._handle = None
        if self.live:
            from matplotlib.figure import Figure  # not pyplot: no global figure registry
            self.fig = Figure(figsize=figsize or _DEFAULTS["figsize"])
            self.axes = self.fig.subplots(nrows, ncols, squeeze=False).flatten()[0]

    def add(self, x, y) -> None:
        """Add one point per series: ``y`` is a sequence (or a scalar for one series),
        ``x`` one value for all or one per series; a ``None`` in either skips that series.
        """
        if not hasattr(y, "__len__"):
            y = [y]
        n = len(y)
        if not hasattr(x, "__len__"):
            x = [x] * n
        if self.X is None:
            self.X, self.Y = [[] for _ in range(n)], [[] for _ in range(n)]
        for i, (a, b) in enumerate(zip(x, y)):
            if a is not None and b is not None:
                self.X[i].append(as_float(a))
                self.Y[i].append(as_float(b))
        if self.live:
            now = time.perf_counter()
            if self._drawn_at is None or now - self._drawn_at >= self.min_interval:
                self._draw()
                self._drawn_at, self._pending = time.perf_counter(), False
            else:
                self._pending = True

    def _draw(self) -> None:
        from IPython.display import display
        self.axes.cla()
        for x, y, fmt in zip(self.X, self.Y, self.fmts * 10):
            self.axes.plot(x, y, fmt)
        set_axes(self.axes, **self.axes_config)
        if self.title:
            self.axes.set_title(self.title, fontsize="medium")
        # Send a PNG ourselves: a bare Figure has no display formatter until pyplot has
        # made a figure in this kernel, so the first training of a notebook showed none.
        import io

        from IPython.display import Image
        buffer = io.BytesIO()
        self.fig.savefig(buffer, format="png", bbox_inches="tight")
        image = Image(data=buffer.getvalue(), format="png")
        if self._handle is None:
            self._handle = display(image, display_id=True)
        else:
            self._handle.update(image)

    def close(self) -> None:
        """Draw what is not drawn yet (``min_interval``), then release the figure."""
        if self.live and self._pending and self.fig is not None:
            self._draw()
        self._pending = False
        self.fig = self.axes = None
