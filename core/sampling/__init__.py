"""Noise schedules, samplers, guidance and the KSampler entry point (see docs/sampling.md)."""
