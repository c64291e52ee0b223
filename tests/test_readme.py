"""The README's examples run as written, and its three commands are the ones CI relies on
and a first program that exists."""

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


def test_readme_starts_with_the_three_commands() -> None:
    """The README's first lines are the demo command, the test command that .ci/run runs, and
    the install command with the first program it runs."""
    text = README.read_text(encoding="utf-8")
    first_block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert first_block is not None
    lines = first_block.group(1).strip().splitlines()
    assert lines[0].endswith("nox -s demo")
    test_cmd = lines[1].split("&&")[-1].strip().split("nox", 1)[1]
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert f"nox{test_cmd}" in ci
    install, run = lines[2].split("&&")[-2:]
    assert install.strip() == ".venv/bin/pip install ."
    assert (README.parent / run.strip().split()[-1]).is_file(), "the first program is missing"


@pytest.mark.processes
async def test_readme_first_program_runs() -> None:
    """The README's third command's program runs as written: it prints the proc mesh region
    and four Running procs, gets a greeting from the actor on each, exits 0, and leaves no
    process behind."""
    import sys

    import trio

    from meshtrio.testing import no_leaked_processes

    program = README.parent / "examples" / "first_mesh.py"
    with no_leaked_processes(), trio.fail_after(60):
        done = await trio.run_process([sys.executable, str(program)], capture_stdout=True)
    out = done.stdout.decode()
    assert "proc mesh region: hosts=2/2,gpus=2/1" in out, out
    assert out.count(": Running pid=") == 4, out
    assert out.count("hello, world, from rank") == 4, out
