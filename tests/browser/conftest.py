"""Browser test fixtures and hooks; they live in canvaskit.py with the helpers the tests import."""
from canvaskit import browser, canvas, object_info, pytest_runtest_makereport, server  # noqa: F401
