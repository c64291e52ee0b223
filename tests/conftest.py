"""Shared test configuration.

* Hypothesis profiles chosen by ``MESHTRIO_HYPOTHESIS_PROFILE``: ``fast`` (default) keeps
  local runs quick; ``thorough`` (``nox -s properties``, which ``.ci/run``
  runs) runs more examples.
* The test process is a child subreaper (:func:`meshtrio.testing.become_subreaper`), so a
  process orphaned by a killed host still counts as a leak in ``no_leaked_processes``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from meshtrio.testing import become_subreaper

settings.register_profile(
    "fast", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("MESHTRIO_HYPOTHESIS_PROFILE", "fast"))

become_subreaper()
