"""Model folders, input/output/temp directories and extra_model_paths.yaml (docs/comfy-api.md §9).

One module-level :data:`folders` object, configured once by main.py (or by tests through
:func:`configure`). File listings are recursive, relative, sorted, and cached until a folder's
mtime changes, so combos refresh when files are added.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

MODEL_EXTENSIONS = frozenset({".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"})
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"})

# folder key -> default subdirectories of <models dir>
DEFAULT_FOLDERS = {
    "checkpoints": ["checkpoints"],
    "configs": ["configs"],
    "loras": ["loras"],
    "vae": ["vae"],
    "text_encoders": ["text_encoders", "clip"],
    "diffusion_models": ["unet", "diffusion_models"],
    "clip_vision": ["clip_vision"],
    "style_models": ["style_models"],
    "embeddings": ["embeddings"],
    "diffusers": ["diffusers"],
    "vae_approx": ["vae_approx"],
    "controlnet": ["controlnet", "t2i_adapter"],
    "gligen": ["gligen"],
    "upscale_models": ["upscale_models"],
    "latent_upscale_models": ["latent_upscale_models"],
    "hypernetworks": ["hypernetworks"],
    "photomaker": ["photomaker"],
    "classifiers": ["classifiers"],
}
ALIASES = {"clip": "text_encoders", "unet": "diffusion_models", "t2i_adapter": "controlnet"}
EXTENSIONS_FOR = {"configs": frozenset({".yaml"})}


def canonical(key: str) -> str:
    return ALIASES.get(key, key)


@dataclass
class Folders:
    base: Path = field(default_factory=lambda: Path.cwd())
    models_dir: Path | None = None
    output_dir: Path | None = None
    input_dir: Path | None = None
    temp_dir: Path | None = None
    user_dir: Path | None = None
    paths: dict = field(default_factory=dict)  # key -> [Path]
    custom_node_dirs: list = field(default_factory=list)
    _cache: dict = field(default_factory=dict)  # key -> (mtimes, files)

    def __post_init__(self):
        self.base = Path(self.base).resolve()
        models = Path(self.models_dir or self.base / "models").resolve()
        self.models_dir = models
        self.output_dir = Path(self.output_dir or self.base / "output").resolve()
        self.input_dir = Path(self.input_dir or self.base / "input").resolve()
        self.temp_dir = Path(self.temp_dir or self.base / "temp").resolve()
        self.user_dir = Path(self.user_dir or self.base / "user").resolve()
        if not self.paths:
            self.paths = {key: [models / d for d in dirs] for key, dirs in DEFAULT_FOLDERS.items()}
        if not self.custom_node_dirs:
            self.custom_node_dirs = [self.base / "custom_nodes"]

    # --- configuration -------------------------------------------------------------------------
    def add_path(self, key: str, path, first: bool = False):
        key = canonical(key)
        path = Path(os.path.expandvars(os.path.expanduser(str(path)))).resolve()
        if key == "custom_nodes":
            target = self.custom_node_dirs
        else:
            target = self.paths.setdefault(key, [])
        if path in target:
            return
        target.insert(0, path) if first else target.append(path)
        self._cache.pop(key, None)

    def load_extra_model_paths(self, yaml_path) -> None:
        """Read an extra_model_paths.yaml (docs/comfy-api.md §9.2) and add its folders."""
        import yaml

        yaml_path = Path(yaml_path)
        try:
            config = yaml.safe_load(yaml_path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ValueError(f"extra model paths config {yaml_path}: {e}") from e
        if not isinstance(config, dict):
            raise ValueError(f"extra model paths config {yaml_path}: top level must be a mapping of sections")
        for section_name, section in config.items():
            if not isinstance(section, dict):
                log.warning("extra model paths %s: section %r is not a mapping; skipped", yaml_path, section_name)
                continue
            base = section.get("base_path")
            if base:
                base = Path(os.path.expandvars(os.path.expanduser(str(base))))
                if not base.is_absolute():
                    base = yaml_path.parent / base
            first = bool(section.get("is_default", False))
            for key, value in section.items():
                if key in ("base_path", "is_default") or value is None:
                    continue
                for line in str(value).splitlines():
                    line = line.strip()
                    if not line:
                        continue
                    p = Path(os.path.expandvars(os.path.expanduser(line)))
                    if base is not None and not p.is_absolute():
                        p = base / p
                    elif not p.is_absolute():
                        p = yaml_path.parent / p
                    self.add_path(key, p, first=first)

    # --- listing ------------------------------------------------------------------------------
    def folder_paths(self, key: str) -> list:
        key = canonical(key)
        if key == "custom_nodes":
            return list(self.custom_node_dirs)
        if key not in self.paths:
            raise KeyError(f"unknown model folder type {key!r}")
        return list(self.paths[key])

    def known_folders(self) -> list:
        return list(self.paths)

    def get_filename_list(self, key: str) -> list:
        key = canonical(key)
        dirs = self.folder_paths(key)
        stamp = tuple(_mtime_tree(d) for d in dirs)
        cached = self._cache.get(key)
        if cached and cached[0] == stamp:
            return list(cached[1])
        exts = EXTENSIONS_FOR.get(key, MODEL_EXTENSIONS)
        files = set()
        for d in dirs:
            files.update(_walk(d, exts))
        result = sorted(files)
        self._cache[key] = (stamp, result)
        return list(result)

    def get_full_path(self, key: str, name: str) -> Path | None:
        """The file ``name`` (relative, '/'-separated) in folder type ``key``, never outside it."""
        rel = _safe_relative(name)
        if rel is None:
            return None
        for d in self.folder_paths(key):
            candidate = (d / rel)
            try:
                real = candidate.resolve()
            except OSError:
                continue
            if real.is_file() and (_is_within(real, d.resolve()) or _is_within(candidate.absolute(), d)):
                return real
        return None

    def get_full_path_or_raise(self, key: str, name: str) -> Path:
        path = self.get_full_path(key, name)
        if path is None:
            dirs = ", ".join(str(d) for d in self.folder_paths(key))
            raise FileNotFoundError(f"model file {name!r} not found in the {canonical(key)} folders ({dirs})")
        return path

    # --- input/output/temp ---------------------------------------------------------------------
    def directory_for(self, kind: str) -> Path:
        return {"output": self.output_dir, "input": self.input_dir, "temp": self.temp_dir}[kind]

    def annotated_path(self, name: str, default_kind: str = "input") -> Path:
        """Resolve 'sub/file.png [output]' style names under their directory; refuse escapes."""
        kind = default_kind
        for k in ("output", "input", "temp"):
            suffix = f" [{k}]"
            if name.endswith(suffix):
                name, kind = name[: -len(suffix)], k
                break
        root = self.directory_for(kind).resolve()
        rel = _safe_relative(name)
        if rel is None:
            raise ValueError(f"invalid file name {name!r}")
        path = (root / rel).resolve()
        if not _is_within(path, root):
            raise ValueError(f"file name {name!r} points outside the {kind} folder")
        return path

    def list_input_images(self) -> list:
        root = self.input_dir
        return sorted(_walk(root, IMAGE_EXTENSIONS)) if root.is_dir() else []


def _safe_relative(name: str):
    if not isinstance(name, str) or not name or "\x00" in name:
        return None
    name = name.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    return Path(*parts)


def _is_within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def _mtime_tree(d: Path):
    """Modification stamp of a folder and its subfolders (adding a file anywhere changes it)."""
    if not d.is_dir():
        return None
    stamp = []
    for root, dirs, _files in os.walk(d, followlinks=True):
        dirs[:] = [x for x in dirs if x != ".git"]
        try:
            stamp.append(os.stat(root).st_mtime_ns)
        except OSError:
            pass
    return tuple(stamp)


def _walk(d: Path, exts) -> list:
    out = []
    if not d.is_dir():
        return out
    for root, dirs, files in os.walk(d, followlinks=True):
        dirs[:] = sorted(x for x in dirs if x != ".git")
        for f in files:
            if os.path.splitext(f)[1].lower() in exts:
                rel = os.path.relpath(os.path.join(root, f), d)
                out.append(rel.replace(os.sep, "/"))
    return out


folders = Folders()


def configure(**kw) -> Folders:
    """Replace the process-wide folders (main.py at start, tests per test)."""
    global folders
    folders = Folders(**kw)
    return folders


def get() -> Folders:
    return folders
