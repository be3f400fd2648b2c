"""The formulas and examples in the core's docstrings run as doctests."""

import doctest
import importlib

import pytest

CORE_MODULES = ["d2l_compat.schedules", "d2l_compat.lr_finder", "d2l_compat.loader",
                "d2l_compat.training", "d2l_compat.report", "d2l_compat.lenet",
                "d2l_compat.records", "d2l_compat.context", "d2l_compat.registry",
                "d2l_compat.files", "d2l_compat.machine", "d2l_compat.exercises",
                "d2l_compat.arrays", "d2l_compat.checks", "d2l_compat.rooms",
                "d2l_compat.d2l_api", "d2l_compat.devices",
                "d2l_booktools.reproduce", "d2l_booktools.regress"]


@pytest.mark.parametrize("name", CORE_MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has lost its examples"
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
