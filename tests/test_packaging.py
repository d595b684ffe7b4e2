"""The architecture: imports point one way (schedules <- optim <- nets), checked in fresh
interpreters, and each package's public surface is exactly its `__all__`."""

import importlib
import json
import subprocess
import sys

import pytest

FORBIDDEN = {
    "schedules": {"optim", "nets"},
    "optim": {"nets", "schedules"},
    "nets": set(),
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package):
    code = (
        f"import sys, json; import {package}; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = set(json.loads(subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout))
    assert not (loaded & FORBIDDEN[package]), f"{package} imports {loaded & FORBIDDEN[package]}"


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_all_names_exist_and_are_unique(package):
    module = importlib.import_module(package)
    names = module.__all__
    assert len(names) == len(set(names)), "duplicate names in __all__"
    missing = [name for name in names if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ lists names it does not define: {missing}"
