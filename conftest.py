"""Repository-wide pytest fixtures: where ../shared lives, and a clean set of model folders."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent
SHARED = (REPO / ".." / "shared").resolve()


def shared_path(*parts) -> Path:
    """A file under ../shared, or skip the test with the reason when CI's shared/ is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared is not beside this checkout)")
    return path


@pytest.fixture()
def shared():
    return shared_path


@pytest.fixture()
def folders(tmp_path):
    """Process-wide model/input/output folders pointed at a fresh temp base directory."""
    from core import paths

    previous = paths.get()
    f = paths.configure(base=tmp_path)
    for d in (f.output_dir, f.input_dir, f.temp_dir):
        d.mkdir(parents=True, exist_ok=True)
    yield f
    paths.folders = previous
