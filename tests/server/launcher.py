"""Starts a real server process with the serverpack nodes: ``python tests/server/launcher.py --port N ...``.

main.py's flags and folder set-up are used as they are; only the registry differs (the test pack
instead of the built-in nodes), so these tests do not depend on diffusion nodes or plugin loading.
Environment switches for the tests that need more of main.py:
- ``LATENTFLOW_TEST_BUILTIN_NODES=1``: the built-in nodes are registered too (imports torch).
- ``LATENTFLOW_TEST_RUNTIME_SETUP=main`` runs main.py's device set-up on its background thread, as
  ``main.py serve`` does; a number N first sleeps N seconds in that thread (a slow machine).
- ``LATENTFLOW_TEST_SETUP_WAIT_S=S``: how long /system_stats waits for that set-up before its 503.
- ``GET /serverpack/broken`` is a pack route that raises, as a buggy plugin's would.
"""
import logging
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]

import main  # noqa: E402
import serverpack  # noqa: E402
from core import server  # noqa: E402
from core.cli import flags as cli  # noqa: E402
from core.compat import prompt_server  # noqa: E402
from core.server import runtime  # noqa: E402


async def broken_route(request):
    raise RuntimeError("a plugin route failed")


if __name__ == "__main__":
    args = cli.parse_args(sys.argv[1:])
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    main.configure_folders(args)
    registry = serverpack.build_registry()
    if os.environ.get("LATENTFLOW_TEST_BUILTIN_NODES"):
        import nodes
        nodes.register_builtin_nodes(registry)
    prompt_server().routes.get("/serverpack/broken")(broken_route)
    if os.environ.get("LATENTFLOW_TEST_SETUP_WAIT_S"):
        runtime.READY_WAIT_S = float(os.environ["LATENTFLOW_TEST_SETUP_WAIT_S"])
    setup = os.environ.get("LATENTFLOW_TEST_RUNTIME_SETUP")
    if setup:
        delay = 0.0 if setup == "main" else float(setup)

        def slow_setup(a):
            time.sleep(delay)
            main.configure_runtime(a)
        runtime.configure_in_background(slow_setup, args)
    sys.exit(server.run(args, registry))
