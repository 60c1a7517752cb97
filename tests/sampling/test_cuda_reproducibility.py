"""One seed, one image on every device: CPU and CUDA runs of the same job agree (skipped without CUDA).

All random numbers (initial noise, ancestral and SDE noise) come from CPU generators, so device
results differ only by floating-point rounding of the network.
"""
import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def tiny_sd15(tmp_path_factory):
    from core.models.tiny import write_tiny_checkpoint

    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors", "sd15", 0)


def _sample(path, device_flags, sampler):
    from core import devices
    from core.models.checkpoint import load_checkpoint
    from core.sampling.sample import common_ksampler

    devices.configure(device_flags)
    try:
        model, _, _ = load_checkpoint(path, output_clip=False, output_vae=False)
        gen = torch.Generator().manual_seed(3)
        width = model.unet.config.context_dim
        pos = [[torch.randn(1, 77, width, generator=gen), {}]]
        neg = [[torch.randn(1, 77, width, generator=gen), {}]]
        latent = {"samples": torch.zeros(2, 4, 16, 16)}
        out = common_ksampler(model, 1234, 6, 5.0, sampler, "karras", pos, neg, latent)["samples"]
        return out, model.unet.input_blocks[0][0].weight.device.type
    finally:
        devices.configure(None)


@pytest.mark.parametrize("sampler", ["euler", "euler_ancestral", "dpmpp_2m_sde", "uni_pc"])
def test_cpu_and_cuda_give_the_same_latent_for_a_seed(tiny_sd15, sampler):
    cpu, where_cpu = _sample(tiny_sd15, {"cpu": True, "force_fp32": True}, sampler)
    cuda, where_cuda = _sample(tiny_sd15, {"force_fp32": True}, sampler)
    assert (where_cpu, where_cuda) == ("cpu", "cuda")
    assert cuda.device.type == "cpu" and cuda.dtype == torch.float32  # LATENTs come back on the CPU
    torch.testing.assert_close(cuda, cpu, rtol=0, atol=2e-2 * float(cpu.abs().max()))


def test_half_precision_on_cuda_stays_close_to_fp32(tiny_sd15):
    full, _ = _sample(tiny_sd15, {"force_fp32": True}, "euler")
    half, _ = _sample(tiny_sd15, {"force_fp16": True}, "euler")
    assert torch.isfinite(half).all()
    assert (half - full).abs().mean() < 0.02 * full.abs().mean()
