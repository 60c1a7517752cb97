"""Low-VRAM layer streaming, simulated on the CPU: blocks whose weights do not fit the budget are copied in
for their forward and dropped after; outputs are identical and at most one block (two with prefetch) is
"on the device" at a time. The CUDA side (side stream, pinned memory, the memory manager's choice) is
not exercised here."""
from __future__ import annotations

import pytest
import torch

from core import devices
from core.models import streaming
from core.models.patcher import MergedPatches
from fp8_toys import inputs, tiny_config, tiny_flux

CPU = torch.device("cpu")
CONFIG = tiny_config(depth=3, depth_single_blocks=3)


def run(net):
    with torch.no_grad():
        return net(*inputs(CONFIG))


def on_device_counter(net, streamer):
    """Record, at each streamed block's forward, how many streamed blocks hold device copies."""
    counts = []

    def count(block, args, output):
        loaded = 0
        for b in streamer.streamed:
            homes = streamer.homes[id(b)]
            if any(getattr(owner, "_parameters" if is_param else "_buffers")[name] is not home
                   for owner, name, is_param, home in homes):
                loaded += 1
        counts.append(loaded)

    hooks = [b.register_forward_hook(count, prepend=True) for b in streamer.streamed]
    return counts, hooks


@pytest.fixture()
def net():
    return tiny_flux(CONFIG)


def test_streamed_model_gives_identical_output(net):
    want = run(net)
    streamer = streaming.stream(net, CPU, budget=0)
    assert streamer is not None and len(streamer.streamed) == 6
    assert torch.equal(run(net), want)
    assert torch.equal(run(net), want)  # and again: the second forward uses the learnt order


@pytest.mark.parametrize("prefetch,most", [(False, 1), (True, 2)])
def test_at_most_one_block_is_on_the_device_at_a_time(net, prefetch, most):
    resident, streamed = streaming.plan(net, 0)
    streamer = streaming.BlockStreamer(net, CPU, streamed, prefetch=prefetch)
    counts, _ = on_device_counter(net, streamer)
    run(net)
    run(net)
    assert len(counts) == 12 and max(counts) <= most and min(counts) >= 1
    assert streamer.peak_loaded == most


def test_each_forward_moves_every_streamed_block_once(net):
    streamer = streaming.stream(net, CPU, budget=0, prefetch=False)
    run(net)
    assert streamer.moved_bytes == sum(streaming.nbytes(b) for b in streamer.streamed)
    run(net)
    assert streamer.moved_bytes == 2 * sum(streaming.nbytes(b) for b in streamer.streamed)


def test_between_forwards_the_weights_are_the_cpu_homes(net):
    streamer = streaming.stream(net, CPU, budget=0)
    run(net)
    block = streamer.streamed[-1]
    assert all(owner._parameters[name] is home for owner, name, is_param, home in streamer.homes[id(block)] if is_param)


def test_budget_keeps_leading_blocks_resident(net):
    blocks = streaming.blocks_of(net)
    size = streaming.nbytes(blocks[0])  # the double blocks come first and are the largest
    rest = streaming.nbytes(net) - sum(streaming.nbytes(b) for b in blocks)
    resident, streamed = streaming.plan(net, rest + 2 * size + 2 * size)
    assert resident == blocks[:2] and streamed == blocks[2:]
    assert streaming.stream(net, CPU, budget=streaming.nbytes(net) * 4) is None  # fits: nothing streamed


def test_unstream_removes_the_hooks_and_keeps_the_output(net):
    want = run(net)
    streaming.stream(net, CPU, budget=0)
    streaming.unstream(net)
    assert streaming.streamer_of(net) is None
    assert all(not b._forward_pre_hooks for b in streaming.blocks_of(net))
    assert torch.equal(run(net), want)


def test_lora_merged_while_streaming_travels_with_every_copy(net):
    key = "double_blocks.2.img_attn.qkv.weight"
    rows, cols = net.get_parameter(key).shape
    g = torch.Generator().manual_seed(0)
    patches = {key: [(1.0, torch.randn(rows, 4, generator=g) * 0.1, torch.randn(4, cols, generator=g) * 0.1)]}
    reference = tiny_flux(CONFIG)
    merged = MergedPatches.into_module(reference, patches, "")
    want = run(reference)
    merged.restore()

    streaming.stream(net, CPU, budget=0)
    merged = MergedPatches.into_module(net, patches, "")
    assert torch.equal(run(net), want)
    merged.restore()
    assert torch.equal(run(net), run(reference))


def test_fp8_stored_blocks_stream_in_8_bits(tmp_path, cpu_fp32):
    from core.models.checkpoint import load_unet
    from core.models.weights import save_safetensors

    path = save_safetensors(tiny_flux(CONFIG).state_dict(), tmp_path / "flux.safetensors")
    model = load_unet(path, weight_dtype="fp8_e4m3fn")
    want = run(model.unet)
    streamer = streaming.stream(model.unet, CPU, budget=0, prefetch=False)
    assert torch.equal(run(model.unet), want)
    fp8_bytes = sum(streaming.nbytes(b) for b in streamer.streamed)
    assert streamer.moved_bytes == fp8_bytes
    assert fp8_bytes < 0.3 * sum(streaming.nbytes(b) for b in streaming.blocks_of(tiny_flux(CONFIG)))


@pytest.mark.parametrize("mode,budget", [("highvram", None), ("gpu_only", None), ("novram", 0),
                                         ("lowvram", 10 * 2**30 - 2**29 - devices.ACTIVATION_RESERVE),
                                         ("normalvram", 10 * 2**30 - 2**29 - devices.ACTIVATION_RESERVE)])
def test_streaming_budget_per_memory_mode(mode, budget):
    assert devices.streaming_budget(mode, free=10 * 2**30, reserve=2**29) == budget


def test_streaming_budget_is_never_negative():
    assert devices.streaming_budget("lowvram", free=2**30, reserve=2**29) == 0


class RecordingHandle:
    """A handle whose streaming hooks record their calls (the memory manager's side of the contract)."""

    def __init__(self, module):
        self.module, self.calls = module, []

    def modules(self):
        return [self.module]

    def stream_to(self, module, device, budget):
        self.calls.append(("stream_to", device.type, budget))
        return True

    def stop_streaming(self):
        self.calls.append(("stop_streaming",))


@pytest.fixture()
def lowvram(monkeypatch):
    devices.configure({"lowvram": True})
    monkeypatch.setattr(devices, "free_memory", lambda device: 3 * 2**30)  # a "CUDA" card with 3 GB free
    yield devices.manager
    devices.configure(None)


def test_lowvram_manager_streams_through_the_handle_instead_of_moving_the_module(net, lowvram):
    handle = RecordingHandle(net)
    lowvram._load(handle, torch.device("cuda"))  # net.to("cuda") would raise on this CPU-only machine
    assert handle.calls == [("stream_to", "cuda", 3 * 2**30 - 2**29 - devices.ACTIVATION_RESERVE)]
    lowvram._offload(handle)
    assert handle.calls[-1] == ("stop_streaming",)


def test_model_handle_streams_and_stops(net, cpu_fp32):
    from core.models.handles import ModelHandle

    handle = ModelHandle(net, None, None)
    assert handle.stream_to(net, CPU, 0) and streaming.streamer_of(net) is not None
    assert handle.stream_to(net, CPU, 0)  # already streaming: kept
    handle.stop_streaming()
    assert streaming.streamer_of(net) is None


def test_full_size_flux_in_bf16_fits_an_8_gb_budget_by_streaming():
    """The real 12B FLUX.1 (on meta, 23.8 GB in bf16): what stays plus the two-block window fits 8 GB."""
    from core.models.building import on_meta
    from core.models.flux import Flux, FluxConfig

    full = on_meta(lambda: Flux(FluxConfig())).to(torch.bfloat16)
    budget = 8 * 2**30
    resident, streamed = streaming.plan(full, budget)
    blocks = streaming.blocks_of(full)
    assert len(blocks) == 19 + 38 and resident and streamed and resident + streamed == blocks
    on_device = streaming.nbytes(full) - sum(streaming.nbytes(b) for b in streamed)
    window = 2 * max(streaming.nbytes(b) for b in streamed)
    assert on_device + window <= budget < streaming.nbytes(full)
