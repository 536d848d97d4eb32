"""Shared fixtures. Everything is tiny; real code paths throughout."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def toy_dataset(tmp_path_factory):
    """A small toy point-target store (format v1) for learning-stage unit tests."""
    from radiovisual.dataset.toy import make_toy_dataset

    return make_toy_dataset(tmp_path_factory.mktemp("toy") / "toy.zarr")
