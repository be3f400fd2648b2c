"""Restore numpy's ``bool`` alias before mxnet is imported (MXNet 1.9.1 on numpy >= 1.24).

Importing this module is the package's one documented global change: it defines
``numpy.bool = bool`` if missing (see :mod:`d2l_compat.mxnet_hook`, which does the
same automatically at the first ``import mxnet`` once ``make setup`` installed it).
"""

from d2l_compat.mxnet_hook import restore_numpy_aliases

restore_numpy_aliases()
