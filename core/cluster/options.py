"""What ``--ray`` configures (core/cli/flags.py); plain data, importable without Ray installed."""
from __future__ import annotations

from dataclasses import dataclass, field

ON_LOSS = ("fail", "retry")


class ClusterUnavailable(Exception):
    """--ray was given but Ray is not installed."""


@dataclass
class ClusterOptions:
    address: str = "local"  # "local" starts a cluster; "auto" or "ray://host:10001" joins one
    workers: int | None = None  # None: one per GPU the cluster offers (at least one)
    on_worker_loss: str = "fail"  # a job whose worker died: "fail" it, or "retry" it once elsewhere
    shared_folders: bool = False  # workers use the server's input/output/temp folders directly
    args: object = None  # main.py's flags, handed to each worker's set-up
    setup: str = "main:worker_setup"  # "module:function(args) -> registry", run in each worker process
    namespace: str = "latentflow"
    window: int = 16  # pending jobs an idle worker looks at for model affinity
    ray_init: dict = field(default_factory=dict)  # extra ray.init keywords (tests: a small object store)

    def __post_init__(self):
        if self.on_worker_loss not in ON_LOSS:
            raise ValueError(f"on_worker_loss must be one of {', '.join(ON_LOSS)}, not {self.on_worker_loss!r}")
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"--workers must be at least 1, not {self.workers}")


def options_from_args(args) -> ClusterOptions | None:
    """ClusterOptions from the flags, or None when --ray was not given."""
    address = args.ray
    if not address:
        return None
    import importlib.util
    if importlib.util.find_spec("ray") is None:
        raise ClusterUnavailable(f"--ray {address} needs Ray: pip install -r requirements-ray.txt (docs/cluster.md)")
    return ClusterOptions(address=address, workers=args.workers, on_worker_loss=args.ray_on_worker_loss,
                          shared_folders=args.ray_shared_folders, args=_absolute(args))


FOLDER_FLAGS = ("base_directory", "models_directory", "output_directory", "input_directory", "temp_directory",
                "user_directory")


def _absolute(args):
    """A copy of the flags with folder paths made absolute: worker processes start in another directory."""
    import copy
    import os

    args = copy.copy(args)
    for name in FOLDER_FLAGS:
        if getattr(args, name):
            setattr(args, name, os.path.abspath(getattr(args, name)))
    args.extra_model_paths_config = [os.path.abspath(p) for p in args.extra_model_paths_config]
    return args
