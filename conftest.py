"""Repository-wide pytest fixtures: a clean set of model folders."""
from __future__ import annotations

from pathlib import Path

import pytest

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
