"""Starts a real server process with the serverpack nodes: ``python tests/server/launcher.py --port N ...``.

main.py's flags and folder set-up are used as they are; only the registry differs (the test pack
instead of the built-in nodes), so these tests do not depend on diffusion nodes or plugin loading.
"""
import logging
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]

import main  # noqa: E402
import serverpack  # noqa: E402
from core import server  # noqa: E402
from core.cli import flags as cli

if __name__ == "__main__":
    args = cli.parse_args(sys.argv[1:])
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    main.configure_folders(args)
    sys.exit(server.run(args, serverpack.build_registry()))
