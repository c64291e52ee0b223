"""The README's examples run as written, and its two commands are the ones CI relies on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_has_examples() -> None:
    """The README carries at least the values, errors and live-mesh examples."""
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index: int) -> None:
    """Each python block of the README runs without error (its asserts hold)."""
    code = compile(BLOCKS[index], f"README.md block {index}", "exec")
    exec(code, {"__name__": f"readme_{index}"})


def test_readme_starts_with_the_two_commands() -> None:
    """The README's first lines are the demo command and the test command that .ci/run runs."""
    text = README.read_text(encoding="utf-8")
    first_block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert first_block is not None
    lines = first_block.group(1).strip().splitlines()
    assert lines[0].endswith("nox -s demo")
    test_cmd = lines[1].split("&&")[-1].strip().split("nox", 1)[1]
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert f"nox{test_cmd}" in ci
