"""T5-XXL encode speed: our T5 (core/models/t5.py) vs transformers' T5EncoderModel with the same weights.

Full-width T5 v1.1 XXL blocks (d_model 4096, d_ff 10240, 64 heads of 64) at reduced depth (--layers, default
1) with a small vocabulary (the embedding lookup costs nothing either way), seeded random weights, float32,
on the CPU; one prompt of --tokens tokens (256 = FLUX's minimum T5 length). Each side runs a warm-up, then
--rounds alternating timed forwards; the best of each is compared. Outputs are checked equal (1e-3) first.
Target: ours <= 1.05x transformers. Last line: one JSON object, ``t5_forward_ratio`` = ours / transformers.

    python bench/t5_encode.py [--layers N] [--tokens N] [--rounds N] [--threads N]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build(layers: int, vocab: int):
    import torch
    from transformers import T5Config, T5EncoderModel

    from core.models import t5
    from core.models.tiny import fill_random

    config = t5.T5Config(d_model=4096, d_kv=64, d_ff=10240, num_layers=layers, num_heads=64, vocab_size=vocab)
    ours = fill_random(t5.build_t5(config, "meta"), seed=0)
    hf_config = T5Config(vocab_size=vocab, d_model=4096, d_kv=64, d_ff=10240, num_layers=layers, num_heads=64,
                         feed_forward_proj="gated-gelu", is_encoder_decoder=False, tie_word_embeddings=False)
    with torch.device("meta"):
        hf = T5EncoderModel(hf_config)
    # the same tensors, shared (no second copy of the weights)
    hf.load_state_dict({**ours.state_dict(), "encoder.embed_tokens.weight": ours.shared.weight}, assign=True)
    hf.encoder.embed_tokens = hf.shared
    return ours, hf.eval()


def best_of(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    ours, hf = build(args.layers, vocab=1024)
    ids = torch.randint(0, 1024, (1, args.tokens), generator=torch.Generator().manual_seed(0))

    def run_ours():
        return ours(ours.token_embeddings(ids))

    def run_hf():
        return hf(input_ids=ids).last_hidden_state

    torch.testing.assert_close(run_ours(), run_hf(), atol=1e-3, rtol=1e-3)
    ours_times, hf_times = [], []
    for _ in range(args.rounds):  # alternate so a busy machine slows both alike
        ours_times.append(best_of(run_ours, 1))
        hf_times.append(best_of(run_hf, 1))
    result = {"device": "cpu", "dtype": "float32", "layers": args.layers, "tokens": args.tokens,
              "threads": torch.get_num_threads(), "t5_forward_ours_s": round(min(ours_times), 4),
              "t5_forward_transformers_s": round(min(hf_times), 4),
              "t5_forward_ratio": round(min(ours_times) / min(hf_times), 3)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
