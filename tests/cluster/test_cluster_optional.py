"""Ray is optional: the server imports and serves without it, and --ray without it is a clear error."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Python that hides Ray whether or not it is installed (a None entry makes "import ray" fail)
HIDE_RAY = "import sys; sys.modules['ray'] = None\n"


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", HIDE_RAY + code], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_without_ray_flag_the_server_builds_its_app_and_never_imports_ray():
    done = _run("from core.cli import flags\n"
                "from core.server import config_from_args, create_app\n"
                "from core.execution.registry import NodeRegistry\n"
                "config = config_from_args(flags.parse_args(['serve']))\n"
                "config.db_path = ':memory:'\n"
                "app = create_app(NodeRegistry(), config, start_worker=False)\n"
                "assert config.cluster is None\n"
                "print('ok', sys.modules.get('ray'))\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok None"


def test_the_ray_flag_without_ray_installed_stops_the_server_with_what_to_install():
    done = _run("import main; sys.exit(main.main(['serve', '--ray', 'local', '--disable-all-custom-nodes',"
                " '--dont-print-server']))\n")
    assert done.returncode == 2
    assert "needs Ray: pip install -r requirements-ray.txt" in done.stderr
