"""The cache of decoded gzipped IDX arrays (aespec.data.files.read_idx): read when it is
there and current, never when the file changed, and never a cause of failure."""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np
import pytest

from aespec.data import files
from aespec.data.base import Ctx


def _write_idx(path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def idx(tmp_path, monkeypatch):
    monkeypatch.setenv("AESPEC_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    array = np.arange(6 * 4 * 4).reshape(6, 4, 4).astype(np.uint8)
    _write_idx(path, array)
    return path, array


def _read(path, limit=None) -> np.ndarray:
    return files.read_idx(path, limit, Ctx("fashion_mnist", (1, 4, 4), None, None, None))


def _cached(tmp_path) -> list:
    return sorted((tmp_path / "cache" / "data").glob("idx-*.npy"))


def test_a_whole_read_fills_the_cache_and_the_next_read_comes_from_it(idx, tmp_path):
    path, array = idx
    assert np.array_equal(_read(path), array)
    [cache] = _cached(tmp_path)
    np.save(cache, array[::-1].copy())  # same shape and type: only the cache can give this
    assert np.array_equal(_read(path), array[::-1])
    assert np.array_equal(_read(path, limit=2), array[::-1][:2])


def test_a_changed_file_is_decoded_again_never_read_stale(idx, tmp_path):
    path, array = idx
    _read(path)
    changed = array + 1
    _write_idx(path, changed)
    stat = path.stat()  # even with the old modification time, the new inode or size differ
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert np.array_equal(_read(path), changed)
    assert len(_cached(tmp_path)) == 2


def test_a_limited_read_does_not_cache_a_part(idx, tmp_path):
    path, array = idx
    assert np.array_equal(_read(path, limit=3), array[:3])
    assert _cached(tmp_path) == []


def test_a_damaged_or_foreign_cache_only_costs_decoding(idx, tmp_path):
    path, array = idx
    _read(path)
    [cache] = _cached(tmp_path)
    cache.write_bytes(b"not an npy file")
    assert np.array_equal(_read(path), array)
    np.save(cache, np.zeros((2, 2), np.float64))  # another shape and type
    assert np.array_equal(_read(path), array)


def test_an_empty_cache_dir_turns_it_off(idx, tmp_path, monkeypatch):
    path, array = idx
    monkeypatch.setenv("AESPEC_CACHE_DIR", "")
    assert np.array_equal(_read(path), array)
    assert not (tmp_path / "cache").exists()
