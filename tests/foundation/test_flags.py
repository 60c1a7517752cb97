"""Every command-line flag the code reads exists in main.py's parser (core/cli/flags.py).

Flags are read as plain attributes (``args.preview_method``), never through ``getattr(args, name,
default)``, so a misspelt or missing flag fails here, and at its first use, instead of silently
keeping a default (how ``--preview-method`` once got lost).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core.cli import flags as cli

REPO = Path(__file__).resolve().parents[2]


def dests(command: str) -> set:
    argv = ["run", "workflow.json"] if command == "run" else ["serve"]
    return set(vars(cli.parse_args(argv)))


SERVE, RUN = dests("serve"), dests("run")
# Which command's namespace each module that reads flags receives.
READERS = {
    "main.py": SERVE | RUN,  # branches on args.command before reading a command's own flags
    "core/cli/flags.py": SERVE & RUN,  # cache_policy serves both commands
    "core/cli/headless.py": RUN,
    "core/server/__init__.py": SERVE,
    "core/server/security.py": SERVE,
    "core/cluster/options.py": SERVE,  # --ray and its workers' copy of the flags
}


def python_files():
    return [REPO / "main.py", *sorted((REPO / "core").rglob("*.py")), *sorted((REPO / "nodes").rglob("*.py"))]


def flags_read(tree) -> set:
    return {n.attr for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "args"
            and isinstance(n.ctx, ast.Load)}


def getattr_with_default_on_args(tree) -> list:
    return [n.lineno for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "getattr"
            and len(n.args) == 3 and isinstance(n.args[0], ast.Name) and n.args[0].id == "args"]


def parsed():
    for path in python_files():
        yield path.relative_to(REPO).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def test_every_module_that_reads_flags_is_known_to_this_test():
    readers = {rel for rel, tree in parsed() if flags_read(tree)}
    assert readers <= set(READERS), f"add {sorted(readers - set(READERS))} to READERS with the command it serves"


@pytest.mark.parametrize("module", sorted(READERS))
def test_flags_a_module_reads_exist_in_its_command_parser(module):
    tree = ast.parse((REPO / module).read_text(encoding="utf-8"))
    missing = flags_read(tree) - READERS[module]
    assert not missing, f"{module} reads flags the parser does not define: {sorted(missing)}"


def test_no_flag_is_read_through_getattr_with_a_default():
    found = {rel: lines for rel, tree in parsed() if (lines := getattr_with_default_on_args(tree))}
    assert not found, f"getattr(args, ...) hides misspelt flags: {found}"


def test_device_flags_exist_for_both_commands():
    from core import devices

    assert set(devices.FLAG_NAMES) <= SERVE & RUN


def test_device_settings_refuse_an_unknown_flag_name():
    from core import devices

    with pytest.raises(TypeError, match="fp16_unte"):
        devices.configure({"fp16_unte": True})


def test_listen_is_split_once_into_the_server_config():
    from core.server import config_from_args

    config = config_from_args(cli.parse_args(["--listen", "127.0.0.1, ::1", "--port", "9001"]))
    assert config.hosts == ("127.0.0.1", "::1") and config.port == 9001


def test_bare_listen_binds_every_interface_and_turns_token_auth_on():
    from core.server import config_from_args

    config = config_from_args(cli.parse_args(["--listen"]))
    assert config.hosts == ("0.0.0.0", "::") and config.security.token


def test_every_flag_is_read_somewhere_or_listed_as_having_no_effect():
    from core import devices

    read = set(devices.FLAG_NAMES) | {"command", "cache_classic"}  # cache_classic: the default policy
    for _, tree in parsed():
        read |= flags_read(tree)
    assert (SERVE | RUN) - read == set(cli.NO_EFFECT)


def test_flags_without_effect_are_named_as_typed():
    args = cli.parse_args(["--fp8_e4m3fn-text-enc", "--cuda-device", "1", "--deterministic", "--cpu"])
    assert cli.ignored_flags(args) == ["--cuda-device", "--deterministic", "--fp8_e4m3fn-text-enc"]
