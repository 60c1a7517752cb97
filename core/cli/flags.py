"""Command-line flags (docs/comfy-api.md §9.3) shared by ``serve`` and ``run``."""
from __future__ import annotations

import argparse

# ComfyUI flags accepted so its command lines start unchanged, that change nothing here (yet);
# main.py warns when one is given. tests/foundation/test_flags.py checks that no code reads them.
NO_EFFECT = frozenset({
    "cuda_device", "default_device", "disable_smart_memory", "deterministic", "fp64_unet",
    "fp8_e4m3fn_text_enc", "fp8_e5m2_text_enc", "use_split_cross_attention",
    "use_quad_cross_attention", "use_pytorch_cross_attention", "force_upcast_attention", "dont_upcast_attention",
    "disable_xformers", "auto_launch", "disable_auto_launch", "multi_user", "enable_compress_response_body",
})


def _add_common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("folders")
    g.add_argument("--base-directory", default=None, help="base of models/, input/, output/, temp/, user/, custom_nodes/")
    g.add_argument("--models-directory", default=None)
    g.add_argument("--output-directory", default=None)
    g.add_argument("--input-directory", default=None)
    g.add_argument("--temp-directory", default=None)
    g.add_argument("--user-directory", default=None)
    g.add_argument("--extra-model-paths-config", action="append", default=[], metavar="PATH",
                   help="extra_model_paths.yaml file(s); repeatable")

    g = p.add_argument_group("devices and memory")
    vram = g.add_mutually_exclusive_group()
    for flag in ("--cpu", "--gpu-only", "--highvram", "--normalvram", "--lowvram", "--novram"):
        vram.add_argument(flag, action="store_true")
    g.add_argument("--reserve-vram", type=float, default=None, metavar="GB")
    g.add_argument("--cuda-device", default=None)
    g.add_argument("--default-device", default=None)
    g.add_argument("--disable-smart-memory", action="store_true")
    g.add_argument("--deterministic", action="store_true")

    g = p.add_argument_group("precision")
    fp = g.add_mutually_exclusive_group()
    fp.add_argument("--force-fp32", action="store_true")
    fp.add_argument("--force-fp16", action="store_true")
    unet = g.add_mutually_exclusive_group()
    for flag in ("--fp32-unet", "--fp64-unet", "--bf16-unet", "--fp16-unet", "--fp8_e4m3fn-unet", "--fp8_e5m2-unet"):
        unet.add_argument(flag, action="store_true")
    vae = g.add_mutually_exclusive_group()
    for flag in ("--fp16-vae", "--fp32-vae", "--bf16-vae"):
        vae.add_argument(flag, action="store_true")
    g.add_argument("--cpu-vae", action="store_true")
    te = g.add_mutually_exclusive_group()
    for flag in ("--fp8_e4m3fn-text-enc", "--fp8_e5m2-text-enc", "--fp16-text-enc", "--fp32-text-enc",
                 "--bf16-text-enc"):
        te.add_argument(flag, action="store_true")
    for flag in ("--use-split-cross-attention", "--use-quad-cross-attention", "--use-pytorch-cross-attention",
                 "--force-upcast-attention", "--dont-upcast-attention", "--disable-xformers"):
        g.add_argument(flag, action="store_true", help="accepted for compatibility; attention always uses "
                                                       "torch scaled_dot_product_attention")

    g = p.add_argument_group("execution")
    cache = g.add_mutually_exclusive_group()
    cache.add_argument("--cache-classic", action="store_true", help="keep only the last prompt's outputs (default)")
    cache.add_argument("--cache-lru", type=int, default=0, metavar="N", help="keep up to N node results")
    cache.add_argument("--cache-none", action="store_true", help="reuse nothing across prompts")
    g.add_argument("--preview-method", default="none", choices=["none", "auto", "latent2rgb", "taesd"])
    g.add_argument("--preview-size", type=int, default=512)
    g.add_argument("--disable-metadata", action="store_true", help="write no workflow/prompt into PNGs")
    g.add_argument("--disable-all-custom-nodes", action="store_true")
    g.add_argument("--whitelist-custom-nodes", nargs="*", default=[], metavar="NAME")
    g.add_argument("--verbose", nargs="?", const="DEBUG", default="INFO",
                   choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])


def _add_server(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("server")
    g.add_argument("--listen", nargs="?", const="0.0.0.0,::", default="127.0.0.1", metavar="IP",
                   help="address(es) to bind; bare flag listens on all interfaces (token auth turns on)")
    g.add_argument("--port", type=int, default=8188)
    g.add_argument("--tls-keyfile", default=None)
    g.add_argument("--tls-certfile", default=None)
    g.add_argument("--enable-cors-header", nargs="?", const="*", default=None, metavar="ORIGIN",
                   help="allow this origin to make cross-origin requests")
    g.add_argument("--max-upload-size", type=float, default=100, metavar="MB")
    g.add_argument("--front-end", default="latentflow", choices=["latentflow", "official"],
                   help="latentflow: our canvas (web/); official: the ComfyUI frontend from the installed "
                        "comfyui-frontend-package")
    g.add_argument("--front-end-root", default=None, metavar="DIR",
                   help="serve this frontend build folder instead (wins over --front-end)")
    g.add_argument("--auth-token", default=None, help="token required from clients (default: random with --listen)")
    g.add_argument("--disable-auth", action="store_true", help="no token even with --listen (trusted networks only)")
    g.add_argument("--multi-user", action="store_true")
    g.add_argument("--auto-launch", action="store_true")
    g.add_argument("--disable-auto-launch", action="store_true")
    g.add_argument("--dont-print-server", action="store_true")
    g.add_argument("--enable-compress-response-body", action="store_true")
    g.add_argument("--database", default=None, metavar="PATH", help="queue/history SQLite file (default user/latentflow.db)")

    g = p.add_argument_group("cluster (docs/cluster.md; needs: pip install -r requirements-ray.txt)")
    g.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="run jobs on Ray worker actors: 'local' starts a cluster here, 'auto' or "
                        "'ray://host:10001' joins one")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker actors to start (default: one per GPU the cluster offers, at least one)")
    g.add_argument("--ray-on-worker-loss", default="fail", choices=["fail", "retry"],
                   help="a job whose worker process died: fail it with the reason (default), or run it "
                        "once more on another worker")
    g.add_argument("--ray-shared-folders", action="store_true",
                   help="workers read inputs and write outputs in this server's folders directly (same "
                        "machine or a network mount) instead of receiving and returning the files")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="main.py", description="Latentflow: node-based Stable Diffusion workflows (ComfyUI-compatible). "
                                    "Without a command, flags go to 'serve'.")
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="start the server and canvas (the default)")
    _add_common(serve)
    _add_server(serve)

    run = sub.add_parser("run", help="run a workflow file headless (UI or API JSON, or a PNG with a workflow)")
    run.add_argument("workflow", help="workflow .json (UI or API format) or .png carrying one")
    run.add_argument("--set", action="append", default=[], metavar="NODE_ID.INPUT=VALUE",
                     help="override an input before running; VALUE is JSON or plain text; repeatable")
    run.add_argument("--server", default=None, metavar="URL", help="submit to a running server instead")
    run.add_argument("--token", default=None, help="auth token for --server")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_common(run)
    return parser


current = None  # the last parsed flags (plugins read them through comfy.cli_args.args)


def parse_args(argv=None) -> argparse.Namespace:
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("serve", "run", "-h", "--help"):
        argv.insert(0, "serve")
    global current
    current = build_parser().parse_args(argv)
    return current


def ignored_flags(args) -> list[str]:
    """The NO_EFFECT flags this command line sets, as typed (``--fp8_e4m3fn-unet``)."""
    return sorted("--" + name.replace("_", "-").replace("fp8-e4m3fn", "fp8_e4m3fn").replace("fp8-e5m2", "fp8_e5m2")
                  for name in NO_EFFECT if vars(args).get(name) not in (None, False))


def cache_policy(args) -> tuple:
    """(policy, size) from --cache-classic / --cache-lru N / --cache-none (mutually exclusive)."""
    if args.cache_none:
        return "none", 0
    if args.cache_lru:
        return "lru", args.cache_lru
    return "classic", 0


def parse_set(item: str):
    """``"3.steps=30"`` → ("3", "steps", 30); the value is JSON when it parses, else text."""
    import json

    if "=" not in item or "." not in item.split("=", 1)[0]:
        raise ValueError(f"--set {item!r}: expected NODE_ID.INPUT=VALUE")
    target, raw = item.split("=", 1)
    node_id, name = target.rsplit(".", 1)
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return node_id, name, value


def apply_sets(prompt: dict, sets) -> None:
    """Apply ``--set NODE_ID.INPUT=VALUE`` overrides to an API prompt; a ValueError names a bad one."""
    for item in sets or ():
        node_id, name, value = parse_set(item)
        if node_id not in prompt:
            raise ValueError(f"--set {item!r}: the workflow has no node {node_id!r} "
                             f"(ids: {', '.join(sorted(prompt, key=_id_order))})")
        prompt[node_id].setdefault("inputs", {})[name] = value


def _id_order(node_id):
    return (0, int(node_id), "") if str(node_id).isdigit() else (1, 0, str(node_id))
