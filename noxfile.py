"""Task runner: ``nox`` runs tests, lint and typecheck; ``nox -s bench`` and ``nox -s demo`` too.

Every session installs the project into its own virtualenv, so a fresh machine needs only
Python 3.11+ and nox.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_external_run = True


HEAVY = "load or browser or slurm or netns"
"""The heavy suites (markers): many sockets, a real browser, a real SLURM cluster, network
namespaces. ``tests`` leaves them out (it stays under 5 minutes on 2 cores); ``heavy`` runs
them, and CI runs both."""


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite but the heavy suites (pass pytest arguments after ``--``; given
    arguments replace the marker filter)."""
    session.install("-e", ".[tests]")
    session.run("pytest", *(session.posargs or ["-m", f"not ({HEAVY})"]))


@nox.session
def properties(session: nox.Session) -> None:
    """The Hypothesis property tests again, with the thorough profile (400 examples each,
    against 60 in ``tests``; about 2 minutes)."""
    session.install("-e", ".[tests]")
    session.run(
        "pytest",
        "-m",
        "hypothesis",
        *session.posargs,
        env={"MESHTRIO_HYPOTHESIS_PROFILE": "thorough"},
    )


@nox.session
def heavy(session: nox.Session) -> None:
    """The heavy suites alone (bounded: about a minute; each skips saying why when what it
    needs, such as root or an OS package, is missing)."""
    session.install("-e", ".[tests]")
    session.run("pytest", "-m", HEAVY, *session.posargs)


PROC_TESTS = [
    "tests/test_proc_processes.py",
    "tests/test_proc_mesh.py",
    "tests/test_actor_processes.py",
    "tests/test_hardening_processes.py",
    "tests/test_host_processes.py",
    "tests/test_proc_logs.py",
    "tests/test_proc_setup.py",
    "tests/test_proc_stacks.py",
    "tests/test_supervision.py",
    "tests/test_host_mesh.py",
    "tests/test_config_push.py",
    "tests/test_agent_bad_input.py",
    "tests/test_launcher.py",
]
"""The tests that start procs: ``tests`` runs them with the fork server on (the default),
``tests_cold`` once more with it off."""


@nox.session
def tests_cold(session: nox.Session) -> None:
    """The proc tests with the fork server off (every proc starts as a fresh Python)."""
    session.install("-e", ".[tests]")
    session.run("pytest", *PROC_TESTS, *session.posargs, env={"MESHTRIO_HOST_FORK_SERVER": "0"})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", "meshtrio", "tests", "benchmarks", "examples", "noxfile.py")
    session.run(
        "ruff", "format", "--check", "meshtrio", "tests", "benchmarks", "examples", "noxfile.py"
    )


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package."""
    session.install("-e", ".[typecheck]")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks; results go to benchmarks/results/ (JSON and a table)."""
    session.install("-e", ".[admin,top]", "trustme>=1.1")  # bench_admin: HTTP; bench_tls: certs
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: a local mesh, procs on it, and a clean teardown."""
    session.install("-e", ".")
    session.run("python", "-m", "meshtrio", "demo", *session.posargs)
