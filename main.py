"""Latentflow command line: ``python main.py`` serves the canvas; ``python main.py run WORKFLOW`` runs headless."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core import paths  # noqa: E402  (light imports only: startup must stay fast)
from core.cli import flags as cli

log = logging.getLogger("latentflow")


def configure_folders(args) -> paths.Folders:
    base = Path(args.base_directory) if args.base_directory else ROOT
    folders = paths.configure(base=base, models_dir=args.models_directory, output_dir=args.output_directory,
                              input_dir=args.input_directory, temp_dir=args.temp_directory,
                              user_dir=args.user_directory)
    default_yaml = base / "extra_model_paths.yaml"
    for yaml_path in ([default_yaml] if default_yaml.is_file() else []) + list(args.extra_model_paths_config):
        folders.load_extra_model_paths(yaml_path)
    return folders


def configure_runtime(args) -> None:
    """Device and precision flags go to core.devices (imports torch); the metadata flag to the PNG writer."""
    from core import devices
    from core.workflow import png as pngmeta

    devices.configure(args)
    pngmeta.METADATA_ENABLED = not args.disable_metadata


def build_registry(args):
    """Built-in nodes first, then custom node packs (which cannot override built-ins)."""
    import nodes
    from core import custom_nodes
    from core.execution.registry import NodeRegistry

    registry = NodeRegistry()
    nodes.register_builtin_nodes(registry)
    custom_nodes.load_custom_nodes(registry, paths.get().folder_paths("custom_nodes"),
                                   disable_all=args.disable_all_custom_nodes,
                                   whitelist=args.whitelist_custom_nodes)
    # packs that look up each other's classes through ``nodes.NODE_CLASS_MAPPINGS`` see every node
    for name in registry.names():
        nodes.NODE_CLASS_MAPPINGS.setdefault(name, registry.get(name))
        nodes.NODE_DISPLAY_NAME_MAPPINGS.setdefault(name, registry.display_name(name))
    return registry


def worker_setup(args):
    """A cluster worker's process set-up (core/cluster/actor.py): folders, devices, nodes; the registry."""
    configure_folders(args)
    configure_runtime(args)
    return build_registry(args)


def main(argv=None) -> int:
    args = cli.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.verbose), format="%(levelname)s %(name)s: %(message)s")
    if args.command != "run":  # the Logs panel shows start-up too (custom node packs loading)
        from core.server import logbuffer

        logbuffer.capture_startup()
    configure_folders(args)
    for flag in cli.ignored_flags(args):
        log.warning("%s is accepted for compatibility with ComfyUI but has no effect in Latentflow", flag)
    if args.command == "run" and args.server:
        from core.cli import remote

        return remote.run_remote(args.server, args.workflow, args.set, paths.get().output_dir, token=args.token)
    registry = build_registry(args)
    if args.command == "run":
        from core.cli import headless

        configure_runtime(args)
        return headless.run_file(registry, args)
    from core import server
    from core.server import runtime

    runtime.configure_in_background(configure_runtime, args)  # importing torch must not delay listening
    return server.run(args, registry) or 0


if __name__ == "__main__":
    sys.exit(main())
