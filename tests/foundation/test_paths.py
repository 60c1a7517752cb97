"""Model folders, listings that refresh, extra_model_paths.yaml, and paths that cannot escape."""
import os

import pytest

from core import paths


@pytest.fixture()
def f(tmp_path):
    return paths.Folders(base=tmp_path)


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_default_layout_under_models(f, tmp_path):
    assert f.folder_paths("checkpoints") == [tmp_path / "models" / "checkpoints"]
    assert f.folder_paths("clip") == f.folder_paths("text_encoders")
    assert tmp_path / "models" / "unet" in f.folder_paths("diffusion_models")
    assert tmp_path / "models" / "t2i_adapter" in f.folder_paths("controlnet")


def test_listing_is_recursive_sorted_filtered_and_relative(f, tmp_path):
    root = tmp_path / "models" / "checkpoints"
    touch(root / "b.safetensors")
    touch(root / "sub" / "a.ckpt")
    touch(root / "notes.txt")
    touch(root / ".git" / "x.safetensors")
    assert f.get_filename_list("checkpoints") == ["b.safetensors", "sub/a.ckpt"]


def test_listing_refreshes_when_files_are_added(f, tmp_path):
    root = tmp_path / "models" / "loras"
    touch(root / "one.safetensors")
    assert f.get_filename_list("loras") == ["one.safetensors"]
    touch(root / "deep" / "two.safetensors")
    assert f.get_filename_list("loras") == ["deep/two.safetensors", "one.safetensors"]


def test_full_path_refuses_traversal(f, tmp_path):
    touch(tmp_path / "models" / "vae" / "ok.safetensors")
    touch(tmp_path / "secret.safetensors")
    assert f.get_full_path("vae", "ok.safetensors") == tmp_path / "models" / "vae" / "ok.safetensors"
    for bad in ("../../secret.safetensors", "/etc/passwd", "..\\..\\secret.safetensors", "a\x00b", ""):
        assert f.get_full_path("vae", bad) is None
    with pytest.raises(FileNotFoundError, match="'missing.safetensors' not found in the vae folders"):
        f.get_full_path_or_raise("vae", "missing.safetensors")


def test_symlink_escaping_the_folder_is_refused(f, tmp_path):
    outside = touch(tmp_path / "outside" / "x.safetensors")
    link_dir = tmp_path / "models" / "vae"
    link_dir.mkdir(parents=True)
    os.symlink(outside, link_dir / "link.safetensors")
    # a symlink placed inside a model folder by the user is followed (ComfyUI users rely on it) ...
    assert f.get_full_path("vae", "link.safetensors") == outside.resolve()
    # ... but a name that walks out of the folder never resolves
    assert f.get_full_path("vae", "../outside/x.safetensors") is None


def test_extra_model_paths_yaml(f, tmp_path):
    other = tmp_path / "a1111"
    touch(other / "models" / "Stable-diffusion" / "x.safetensors")
    touch(other / "models" / "Lora" / "l1.safetensors")
    touch(other / "models" / "LyCORIS" / "l2.safetensors")
    yaml_file = tmp_path / "extra_model_paths.yaml"
    yaml_file.write_text(
        "a111:\n"
        f"  base_path: {other}\n"
        "  checkpoints: models/Stable-diffusion\n"
        "  loras: |\n"
        "    models/Lora\n"
        "    models/LyCORIS\n"
        "first:\n"
        "  is_default: true\n"
        "  vae: relative_vae\n")
    f.load_extra_model_paths(yaml_file)
    assert "x.safetensors" in f.get_filename_list("checkpoints")
    assert f.get_filename_list("loras") == ["l1.safetensors", "l2.safetensors"]
    assert f.folder_paths("vae")[0] == (tmp_path / "relative_vae").resolve()


def test_extra_model_paths_yaml_errors_name_the_file(f, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match="bad.yaml"):
        f.load_extra_model_paths(bad)


def test_annotated_paths(f, tmp_path):
    assert f.annotated_path("sub/x.png") == (tmp_path / "input" / "sub" / "x.png").resolve()
    assert f.annotated_path("x.png [output]") == (tmp_path / "output" / "x.png").resolve()
    with pytest.raises(ValueError):
        f.annotated_path("../x.png")
