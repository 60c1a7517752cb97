"""FLUX.2 [dev] (32B) only runs layer-streamed on most cards: its double and single blocks are the streaming
units, and a streamed FLUX.2 — with reference images and guidance — gives exactly the unstreamed output.
Simulated on the CPU (core/models/streaming.py); the CUDA side is tested there and not run here."""
from __future__ import annotations

import torch

from core.models import streaming
from flux2_toys import tiny_config, tiny_flux2


def run(net, refs):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(1, 128, 4, 6, generator=gen)
    ctx = torch.randn(1, 5, 24, generator=gen)
    with torch.no_grad():
        return net(x, torch.tensor([0.6]), ctx, y=torch.tensor([[3.5]]), ref_latents=refs)


def test_flux2_blocks_are_the_streaming_units_and_hold_nearly_all_its_weights():
    net = tiny_flux2(tiny_config(guidance=True, depth=3, single=4))
    blocks = streaming.blocks_of(net)
    assert blocks == [*net.double_blocks, *net.single_blocks]
    assert sum(streaming.nbytes(b) for b in blocks) > 0.5 * streaming.nbytes(net)


def test_streamed_flux2_dev_with_a_reference_gives_the_same_velocity():
    net = tiny_flux2(tiny_config(guidance=True, depth=3, single=4))
    refs = [torch.randn(1, 128, 2, 2, generator=torch.Generator().manual_seed(9))]
    want = run(net, refs)
    streamer = streaming.stream(net, torch.device("cpu"), budget=0)
    assert streamer is not None and len(streamer.streamed) == 7
    assert torch.equal(run(net, refs), want)
    assert torch.equal(run(net, refs), want)
