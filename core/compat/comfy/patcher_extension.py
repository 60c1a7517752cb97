"""ComfyUI's ``comfy.patcher_extension``: callback/wrapper type names and the dict helpers packs use.

Callbacks and wrappers are stored in ``model_options["transformer_options"]`` under ComfyUI's keys.
Our sampler does not call them; the names exist so packs that register them import and run their
other nodes; a wrapper that the pack relies on for its result is therefore not honoured (see
docs/custom_nodes.md).
"""
from __future__ import annotations



from core.compat.missing import module_getattr


class CallbacksMP:
    ON_CLONE = "on_clone"
    ON_LOAD = "on_load_after"
    ON_DETACH = "on_detach_after"
    ON_CLEANUP = "on_cleanup"
    ON_PRE_RUN = "on_pre_run"
    ON_PREPARE_STATE = "on_prepare_state"
    ON_APPLY_HOOKS = "on_apply_hooks"
    ON_REGISTER_ALL_HOOK_PATCHES = "on_register_all_hook_patches"
    ON_INJECT_MODEL = "on_inject_model"
    ON_EJECT_MODEL = "on_eject_model"

    @classmethod
    def init_callbacks(cls) -> dict:
        return {}


class WrappersMP:
    OUTER_SAMPLE = "outer_sample"
    PREPARE_SAMPLING = "prepare_sampling"
    SAMPLER_SAMPLE = "sampler_sample"
    CALC_COND_BATCH = "calc_cond_batch"
    APPLY_MODEL = "apply_model"
    DIFFUSION_MODEL = "diffusion_model"


class PatcherInjection:
    def __init__(self, inject, eject):
        self.inject, self.eject = inject, eject


class WrapperExecutor:
    """Calls ``original(*args, **kwargs)`` through a chain of wrappers (ComfyUI's ``execute`` protocol)."""

    def __init__(self, original, class_obj, wrappers: list, idx: int = 0):
        self.original, self.class_obj, self.wrappers, self.idx = original, class_obj, wrappers, idx

    def execute(self, *args, **kwargs):
        if self.idx >= len(self.wrappers):
            return self.original(*args, **kwargs)
        nxt = WrapperExecutor(self.original, self.class_obj, self.wrappers, self.idx + 1)
        return self.wrappers[self.idx](nxt, *args, **kwargs)

    @classmethod
    def new_executor(cls, original, wrappers, idx: int = 0):
        return cls(original, None, wrappers, idx)

    @classmethod
    def new_class_executor(cls, original, class_obj, wrappers, idx: int = 0):
        return cls(original, class_obj, wrappers, idx)


def _store(transformer_options: dict, kind: str, key: str, item, name: str) -> None:
    transformer_options.setdefault(kind, {}).setdefault(key, {}).setdefault(name, []).append(item)


def add_wrapper_with_key(wrapper_type: str, key: str, wrapper, transformer_options: dict, is_model_options=False):
    if is_model_options:
        transformer_options = transformer_options.setdefault("transformer_options", {})
    _store(transformer_options, "wrappers", wrapper_type, wrapper, key)


def add_callback_with_key(call_type: str, key: str, callback, transformer_options: dict, is_model_options=False):
    if is_model_options:
        transformer_options = transformer_options.setdefault("transformer_options", {})
    _store(transformer_options, "callbacks", call_type, callback, key)


def get_all_wrappers(wrapper_type: str, transformer_options: dict, is_model_options=False) -> list:
    if is_model_options:
        transformer_options = transformer_options.get("transformer_options", {})
    return [w for ws in transformer_options.get("wrappers", {}).get(wrapper_type, {}).values() for w in ws]


def get_all_callbacks(call_type: str, transformer_options: dict, is_model_options=False) -> list:
    if is_model_options:
        transformer_options = transformer_options.get("transformer_options", {})
    return [c for cs in transformer_options.get("callbacks", {}).get(call_type, {}).values() for c in cs]



__getattr__ = module_getattr(__name__)
