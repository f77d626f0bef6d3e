"""Tiny random models written by `ragd model mktiny`, for the test modules that serve them."""
import os
import subprocess
import tempfile

from ragd_client import BIN


def tiny_model_paths(prefix):
    """A fresh folder and the paths of the generator (qwen3) and encoder (bert) inside it."""
    folder = tempfile.mkdtemp(prefix=prefix)
    return folder, os.path.join(folder, "tiny-qwen3.gguf"), os.path.join(folder, "tiny-bert.gguf")


def make_tiny_models(llm, enc):
    """Writes the generator to llm and the encoder to enc (fixed seeds: same weights each run)."""
    for args in (("--arch", "qwen3", "--out", llm, "--seed", "7"),
                 ("--arch", "bert", "--out", enc, "--seed", "8")):
        p = subprocess.run([BIN, "model", "mktiny", *args], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
