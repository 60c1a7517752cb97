"""Server test fixtures; helpers live in serverkit.py (imported by name: ``conftest`` is ambiguous)."""
from serverkit import folders  # noqa: F401
