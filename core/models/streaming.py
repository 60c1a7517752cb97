"""Low-VRAM layer streaming: run a network whose weights do not fit the GPU, block by block.

The network's repeated blocks (the items of its outermost ``nn.ModuleList``s: FLUX's ``double_blocks`` and
``single_blocks``, a U-Net's ``input_blocks``/``output_blocks``, any DiT's transformer blocks) are the
units. Everything outside them (embedders, final layer: a few per cent of the bytes) and as many blocks
as the budget allows move to the device once and stay; the other blocks keep their weights in CPU RAM
(their "home" tensors) and are copied to the device by a forward pre-hook just before they run, and
dropped by a forward hook right after. With ``prefetch`` the next streamed block's copy starts (on a
side CUDA stream, from pinned memory) while the current one computes, so at most two streamed blocks
are on the device at a time. This is how a 12B FLUX (24 GB in bf16, 12 GB in fp8) runs on a card that
holds a fraction of it, as ComfyUI's ``--lowvram`` does.

The home tensors stay the module's parameters between forwards, so weight patches (LoRA, patcher.py)
merged while the model is active land in them and travel with every copy; fp8-stored layers travel
in 8 bits and are upcast on the device (cast_layers.py).
"""
from __future__ import annotations

import contextlib
import logging
import weakref

import torch
from torch import nn

log = logging.getLogger(__name__)

_STREAMERS: "weakref.WeakKeyDictionary[nn.Module, BlockStreamer]" = weakref.WeakKeyDictionary()


def blocks_of(module: nn.Module) -> list:
    """The items of ``module``'s outermost ModuleLists, in registration (= execution) order."""
    found, inside = [], set()
    for name, child in module.named_modules():
        if any(name.startswith(p + ".") for p in inside):
            continue
        if isinstance(child, nn.ModuleList) and len(child):
            inside.add(name)
            found.extend(child)
    return found


def _tensors(module: nn.Module) -> list:
    """``(owner, attribute, is_parameter, tensor)`` for every parameter and buffer under ``module``."""
    out = []
    for owner in module.modules():
        out.extend((owner, n, True, p) for n, p in owner._parameters.items() if p is not None)
        out.extend((owner, n, False, b) for n, b in owner._buffers.items() if b is not None)
    return out


def nbytes(module: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for *_, t in _tensors(module))


def plan(module: nn.Module, budget: int) -> tuple[list, list]:
    """(resident blocks, streamed blocks) for ``budget`` bytes of device memory: the non-block weights and
    leading blocks stay while they fit beside a window of two streamed blocks."""
    blocks = blocks_of(module)
    sizes = [nbytes(b) for b in blocks]
    used = nbytes(module) - sum(sizes)  # everything outside the blocks is always resident
    window = 2 * max(sizes, default=0)
    resident = []
    for block, size in zip(blocks, sizes):
        if used + size + window > budget:
            break
        resident.append(block)
        used += size
    return resident, blocks[len(resident):]


class BlockStreamer:
    """Streams ``streamed`` blocks of ``module`` to ``device`` around their forwards; the rest lives there."""

    def __init__(self, module: nn.Module, device, streamed: list, prefetch: bool = True):
        self.module, self.device, self.prefetch = module, torch.device(device), prefetch
        self.streamed = list(streamed)
        self.homes = {id(b): _tensors(b) for b in self.streamed}  # CPU tensors, the module's own between uses
        self.loaded: dict = {}  # id(block) -> event (CUDA) or None, for blocks whose copy is on the device
        self.moved_bytes = 0
        self.peak_loaded = 0  # most streamed blocks on the device at one time
        cuda = self.device.type == "cuda"
        self.copy_stream = torch.cuda.Stream(self.device) if cuda and prefetch else None
        if cuda:
            self._pin()
        # the parts that stay: every module's own tensors unless it sits inside a streamed block
        members = {id(m) for b in self.streamed for m in b.modules()}
        for owner in module.modules():
            if id(owner) not in members:
                self._move_own(owner)
        # what to prefetch after each block: registration order until a forward shows the real order
        # (a VAE decoder runs its levels last to first)
        self.next = {id(b): self.streamed[i + 1] for i, b in enumerate(self.streamed[:-1])}
        self._last = None
        self.hooks = []
        for block in self.streamed:
            self.hooks.append(block.register_forward_pre_hook(self._before))
            self.hooks.append(block.register_forward_hook(self._after))

    def _move_own(self, owner: nn.Module) -> None:
        for name, p in list(owner._parameters.items()):
            if p is not None and p.device != self.device:
                owner._parameters[name] = nn.Parameter(p.to(self.device), requires_grad=False)
        for name, b in list(owner._buffers.items()):
            if b is not None and b.device != self.device:
                owner._buffers[name] = b.to(self.device)

    def _pin(self) -> None:
        """Page-locked homes, so copies run asynchronously (and overlap compute when prefetching)."""
        for key, slots in self.homes.items():
            pinned = []
            for owner, name, is_param, t in slots:
                try:
                    t = t if t.is_pinned() else t.pin_memory()
                except RuntimeError as e:  # no pinnable memory left: plain copies still work
                    log.debug("layer streaming: cannot pin a tensor (%s); copying from pageable memory", e)
                self._set(owner, name, is_param, t)
                pinned.append((owner, name, is_param, t))
            self.homes[key] = pinned

    @staticmethod
    def _set(owner, name: str, is_param: bool, t: torch.Tensor) -> None:
        if is_param:
            owner._parameters[name] = t if isinstance(t, nn.Parameter) else nn.Parameter(t, requires_grad=False)
        else:
            owner._buffers[name] = t

    def _load(self, block: nn.Module) -> None:
        if id(block) in self.loaded:
            return
        event = None
        stream = self.copy_stream
        # the stream the forwards run on (inside the context below, "current" is the copy stream)
        compute = torch.cuda.current_stream(self.device) if stream is not None else None
        ctx = torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext()
        with ctx:
            for owner, name, is_param, home in self.homes[id(block)]:
                copy = torch.empty_like(home, device=self.device).copy_(home, non_blocking=True)
                if compute is not None:  # freed only after the compute stream's use of it
                    copy.record_stream(compute)
                self._set(owner, name, is_param, copy)
                self.moved_bytes += home.numel() * home.element_size()
            if stream is not None:
                event = torch.cuda.Event()
                event.record(stream)
        self.loaded[id(block)] = event
        self.peak_loaded = max(self.peak_loaded, len(self.loaded))

    def _unload(self, block: nn.Module) -> None:
        for owner, name, is_param, home in self.homes[id(block)]:
            self._set(owner, name, is_param, home)
        self.loaded.pop(id(block), None)

    def _before(self, block, args):
        if self._last is not None:
            self.next[id(self._last)] = block
        self._last = block
        self._load(block)
        event = self.loaded.get(id(block))
        if event is not None:
            torch.cuda.current_stream(self.device).wait_event(event)
        following = self.next.get(id(block))
        if self.prefetch and following is not None:
            self._load(following)
        return None

    def _after(self, block, args, output):
        self._unload(block)
        return None

    def detach(self) -> None:
        """Remove the hooks and put every streamed block's home tensors back."""
        for hook in self.hooks:
            hook.remove()
        self.hooks = []
        for block in self.streamed:
            self._unload(block)


def stream(module: nn.Module, device, budget: int, prefetch: bool = True) -> BlockStreamer | None:
    """Put ``module`` on ``device`` within ``budget`` bytes, streaming the blocks that do not fit; None
    (and nothing moved) when the whole module fits or it has no blocks to stream."""
    unstream(module)
    resident, streamed = plan(module, budget)
    if not streamed:
        return None
    streamer = BlockStreamer(module, device, streamed, prefetch=prefetch)
    _STREAMERS[module] = streamer
    log.info("low VRAM: %d of %d blocks stream to %s (%.2f of %.2f GB resident)", len(streamed),
             len(resident) + len(streamed), device, (nbytes(module) - sum(nbytes(b) for b in streamed)) / 1e9,
             nbytes(module) / 1e9)
    return streamer


def streamer_of(module: nn.Module) -> BlockStreamer | None:
    return _STREAMERS.get(module)


def unstream(module: nn.Module) -> None:
    """Undo :func:`stream`: hooks removed, streamed blocks' weights back in their CPU tensors."""
    streamer = _STREAMERS.pop(module, None)
    if streamer is not None:
        streamer.detach()
