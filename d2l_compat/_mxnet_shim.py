"""Let MXNet 1.9.1 import beside numpy >= 1.24.

MXNet 1.9.1 still refers to ``np.bool`` (removed in numpy 1.24).  This is the one
documented global change of the package: it restores that alias, which equals the
builtin ``bool`` exactly as numpy < 1.24 defined it, before mxnet is imported.
"""

import numpy as np

if "bool" not in np.__dict__:
    np.bool = bool  # the alias numpy < 1.24 had; mxnet 1.9.1 needs it
