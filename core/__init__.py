"""Latentflow core libraries: workflow formats, validation, executor, models, sampling, server.

Core never imports ``nodes``; torch is imported only by the modules that touch tensors.
"""
