"""meshtrio benchmarks: ``python -m benchmarks [--quick] [--only NAME ...]`` (or ``nox -s bench``).

Every figure is compared with a baseline measured in the same run, side by side (CPU speed
drifts on shared machines), and reported as a ratio; no benchmark asserts an absolute time.
Results go to ``benchmarks/results/<timestamp>.json`` and ``benchmarks/results/latest.json``.

Modules: :mod:`benchmarks.core` (result rows, bounded timing loops), :mod:`benchmarks.echo`
(bare trio-websocket echo servers and clients, the transport baseline), one ``bench_*``
module per family, :mod:`benchmarks.report` (table and JSON) and the runner
(:mod:`benchmarks.__main__`).

This package imports nothing heavy itself: ``python -m benchmarks.echo`` runs as a lean
subprocess (trio and trio-websocket only).
"""
