"""The README documents the public API, and its first example runs as written."""

import re
from pathlib import Path

import pytest

import nets
import optim
import schedules

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def documented_names() -> set[str]:
    """Every identifier written in backticks in the README (a call like `adam(lr=...)` counts)."""
    prose = re.sub(r"```.*?```", "", README, flags=re.S)
    spans = re.findall(r"`([^`\n]+)`", prose)
    return {name for span in spans for name in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", span)}


@pytest.mark.parametrize("package", [optim, schedules, nets], ids=lambda m: m.__name__)
def test_every_public_name_is_documented(package):
    # State NamedTuples are documented with their transforms.
    public = {name for name in package.__all__ if not name.endswith("State")}
    missing = sorted(public - documented_names())
    assert not missing, f"{package.__name__} names missing from the README: {missing}"


def test_the_first_example_runs_as_written(capsys):
    block = re.search(r"## A first example.*?```python\n(.*?)```", README, re.S).group(1)
    exec(compile(block, "README example", "exec"), {})
    value, count = capsys.readouterr().out.split()
    assert float(value) < 1e-3
    assert int(count) == 200
