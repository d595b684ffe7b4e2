"""The README documents the public API, and every python block in it runs as written and
prints what it shows.

The convention for what a block prints: a comment `# -> TEXT` stands for one printed line,
in order (a following comment line indented by four spaces, `#    MORE`, continues it). Numbers
are compared to the digits shown (`# -> 1.2e-05` matches a printed 1.23e-05), and `...`
stands for anything within the line (times, say). A block without such a comment prints
nothing. Each block runs in a fresh interpreter, in a directory of its own (paths under
`/tmp/` are moved there).
"""

import math
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import jax
import pytest

import nets
import optim
import schedules

README_PATH = Path(__file__).resolve().parent.parent / "README.md"
README = README_PATH.read_text()


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


def python_blocks() -> list[tuple[int, str]]:
    """`(line number, code)` of every ```python block of the README."""
    return [(README[:m.start()].count("\n") + 2, m.group(1))
            for m in re.finditer(r"^```python\n(.*?)^```", README, re.S | re.M)]


def expected_output(block: str) -> list[str]:
    """The printed lines a block shows, by the `# -> ` convention."""
    lines, continuing = [], False
    for line in block.splitlines():
        shown = re.search(r"# -> ?(.*)$", line)
        more = re.match(r"\s*#    (\S.*)$", line)
        if shown:
            lines.append(shown.group(1).strip())
        elif continuing and more:
            lines[-1] += " " + more.group(1).strip()
        continuing = bool(shown) or (continuing and bool(more))
    return lines


_TOKEN = re.compile(r"\.\.\.|[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|\w+|\S")
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def _same_token(shown: str, printed: str) -> bool:
    if not (_NUMBER.fullmatch(shown) and _NUMBER.fullmatch(printed)):
        return shown == printed
    place = Decimal(10) ** Decimal(shown).as_tuple().exponent  # the last digit shown
    return math.isclose(abs(float(printed) - float(shown)), 0, abs_tol=float(place) / 2 * 1.001)


def line_matches(shown: str, printed: str) -> bool:
    """Whether a printed line is the shown one, numbers to the digits shown, `...` anything."""
    want, have = _TOKEN.findall(shown), _TOKEN.findall(printed)

    def match(i: int, j: int) -> bool:
        if i == len(want):
            return j == len(have)
        if want[i] == "...":
            return any(match(i + 1, k) for k in range(j, len(have) + 1))
        return j < len(have) and _same_token(want[i], have[j]) and match(i + 1, j + 1)

    return match(0, 0)


def test_the_output_convention():
    block = "x = 1\nprint(x)  # -> 1.2e-05 and 200 (x64)\n#    continued\nprint(2)  # -> ... s\n"
    assert expected_output(block) == ["1.2e-05 and 200 (x64) continued", "... s"]
    assert line_matches("1.2e-05 and 200", "1.23e-05 and 200")
    assert not line_matches("1.2e-05 and 200", "1.26e-05 and 200")
    assert not line_matches("1.2e-05 and 200", "1.2e-05 and 201")
    assert line_matches("took ... s compiling, 3 steps", "took 0.25 s, 12.5 s compiling, 3 steps")
    assert not line_matches("took ... s, 3 steps", "took 0.25 s, 4 steps")
    assert not line_matches("took 1 s", "took 1 s more")
    assert line_matches("0.05 oscillating", "0.0500001 oscillating")


def test_the_first_example_runs_as_written(capsys):
    block = re.search(r"## A first example.*?```python\n(.*?)```", README, re.S).group(1)
    exec(compile(block, "README example", "exec"), {})
    printed = capsys.readouterr().out.strip().splitlines()
    shown = expected_output(block)
    assert len(printed) == len(shown) == 1
    assert line_matches(shown[0], printed[0]), (shown, printed)


@pytest.mark.slow
@pytest.mark.parametrize("line, block", [pytest.param(line, block, id=f"line{line}")
                                         for line, block in python_blocks()])
def test_every_python_block_runs_and_prints_what_it_shows(line, block, tmp_path):
    code = block.replace("/tmp/", f"{tmp_path}/")
    env = dict(os.environ)
    if jax.config.jax_compilation_cache_dir:  # the tests' persistent cache (outside CI)
        env.update(JAX_COMPILATION_CACHE_DIR=jax.config.jax_compilation_cache_dir,
                   JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                   JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=900, env=env)
    assert done.returncode == 0, f"README line {line}:\n{done.stderr[-3000:]}"
    printed = [text.rstrip() for text in done.stdout.replace(f"{tmp_path}/", "/tmp/")
               .splitlines() if text.strip()]
    shown = expected_output(block)
    assert len(printed) == len(shown), (f"README line {line} printed {printed}, shows {shown}")
    for want, have in zip(shown, printed, strict=True):
        assert line_matches(want, have), f"README line {line}: shows {want!r}, printed {have!r}"
