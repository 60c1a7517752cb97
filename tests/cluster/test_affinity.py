"""Which pending job an idle worker takes (core/cluster/affinity.py); pure functions, no Ray."""
from __future__ import annotations

from core.cluster.affinity import choose, models_of
from core.server.store import Job


def _job(ckpt=None, *, worker=None, attempts=0, lora=None) -> Job:
    prompt = {"1": {"class_type": "KSampler", "inputs": {"seed": 1, "sampler_name": "euler"}}}
    if ckpt:
        prompt["2"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}}
    if lora:
        prompt["3"] = {"class_type": "LoraLoader", "inputs": {"lora_name": lora, "strength_model": 1.0}}
    return Job(prompt_id=f"p-{ckpt}-{lora}", number=0, status="pending", prompt=prompt, extra_data={},
               outputs_to_execute=[], worker=worker, attempts=attempts)


def test_models_of_a_prompt_are_the_model_file_names_its_inputs_name():
    prompt = _job("sd15/a.safetensors", lora="style.SAFETENSORS").prompt
    prompt["4"] = {"class_type": "SomePackLoader", "inputs": {"model_path": "x.gguf", "text": "a cat.png"}}
    assert models_of(prompt) == {"sd15/a.safetensors", "style.SAFETENSORS", "x.gguf"}


def test_an_idle_worker_takes_the_first_job_whose_models_it_holds():
    jobs = [_job("a.safetensors"), _job("b.safetensors"), _job("b.safetensors")]
    held = {"w0": frozenset({"a.safetensors"}), "w1": frozenset({"b.safetensors"})}
    assert choose(jobs, "w1", held) == 1
    assert choose(jobs, "w0", held) == 0


def test_a_job_needing_more_than_the_worker_holds_is_not_a_match():
    jobs = [_job("a.safetensors", lora="l.safetensors"), _job("a.safetensors")]
    assert choose(jobs, "w0", {"w0": frozenset({"a.safetensors"})}) == 1


def test_otherwise_it_takes_the_first_job_no_other_worker_holds_the_models_of():
    jobs = [_job("a.safetensors"), _job("c.safetensors")]
    held = {"w0": frozenset({"a.safetensors"}), "w1": frozenset({"b.safetensors"})}
    assert choose(jobs, "w1", held) == 1


def test_a_worker_never_idles_while_jobs_wait_even_if_another_holds_their_models():
    jobs = [_job("a.safetensors"), _job("a.safetensors")]
    held = {"w0": frozenset({"a.safetensors"}), "w1": frozenset()}
    assert choose(jobs, "w1", held) == 0


def test_a_dead_workers_models_do_not_hold_jobs_back():
    jobs = [_job("a.safetensors"), _job("c.safetensors")]
    assert choose(jobs, "w1", {"w1": frozenset()}) == 0  # w0 (which held a) is not among the live


def test_a_retried_job_skips_the_worker_it_died_on_while_another_is_alive():
    jobs = [_job("a.safetensors", worker="w0", attempts=1), _job("b.safetensors")]
    held = {"w0": frozenset({"a.safetensors"}), "w1": frozenset()}
    assert choose(jobs, "w0", held) == 1
    assert choose(jobs, "w1", held) == 0
    assert choose(jobs[:1], "w0", held) is None


def test_a_retried_job_may_run_on_its_old_worker_when_that_is_the_only_one_alive():
    jobs = [_job("a.safetensors", worker="w0", attempts=1)]
    assert choose(jobs, "w0", {"w0": frozenset()}) == 0
