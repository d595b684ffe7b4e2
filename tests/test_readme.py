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


def _section_blocks(title: str) -> list[str]:
    section = re.search(rf"### {title}\n(.*?)\n### ", README, re.S).group(1)
    return re.findall(r"```python\n(.*?)```", section, re.S)


@pytest.mark.slow
def test_the_checkpoint_examples_run_as_written(capsys, tmp_path, monkeypatch):
    blocks = _section_blocks("Checkpoints and resuming")
    assert len(blocks) == 2
    for block in blocks:  # each writes to /tmp/descent-*; run them in a directory of their own
        code = block.replace("/tmp/descent-", f"{tmp_path}/descent-")
        exec(compile(code, "README checkpoints", "exec"), {})
    printed = capsys.readouterr().out.replace(f"{tmp_path}/descent-", "/tmp/descent-")
    epochs_and_steps, error = printed.strip().split("\n")
    claimed = re.findall(r"# (\d+ \d+)$", blocks[0], re.M)
    assert epochs_and_steps == claimed[0]
    said = " ".join(line[2:] for line in blocks[1].splitlines() if line.startswith("# "))
    assert error == said


@pytest.mark.slow
def test_the_scaling_out_example_runs_as_written(capsys):
    (block,) = _section_blocks("Scaling out")
    exec(compile(block, "README scaling out", "exec"), {})
    claimed = re.search(r"# (\d+ \w+) \(", block).group(1)
    assert capsys.readouterr().out.strip() == claimed
