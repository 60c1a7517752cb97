"""The Hypothesis profile of the server fuzz tests: a few hundred examples per test by default,
``LATENTFLOW_FUZZ_EXAMPLES=N`` for a long run. Use ``@FUZZ`` on a ``@given`` test."""
import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "latentflow-server-fuzz", max_examples=int(os.environ.get("LATENTFLOW_FUZZ_EXAMPLES", "300")), deadline=None,
    database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                          HealthCheck.data_too_large])
FUZZ = settings.get_profile("latentflow-server-fuzz")
