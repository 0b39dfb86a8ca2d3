"""Learning tasks. Nothing is downloaded at run time.

* ``digits``: scikit-learn's bundled handwritten digits (1,797 real 8x8 images, 10 classes).
* ``mnist`` / ``fashion_mnist``: the IDX files of the standard distribution under ``data_root``
  (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``, ``t10k-...``).
* ``cifar10``: the python pickle batches under ``data_root/cifar-10-batches-py`` (or ``data_root``).
* ``synthetic``: FedProx's synthetic(alpha, beta) (Li et al., MLSys 2020), generated.

Splits are fixed per seed: train (partitioned across vehicles), validation (the committee's pool
for proof of quality) and test (evaluates the global model).
"""

from __future__ import annotations

import functools
import gzip
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Dataset", "load_dataset"]


@dataclass(frozen=True)
class Dataset:
    """Arrays of one task; images are (N, C, H, W) float32 in [0, 1] or standardised features."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    owner: np.ndarray | None = None  # synthetic: the device that generated each training sample

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def _split(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, val: float, test: float
) -> tuple[np.ndarray, ...]:
    order = rng.permutation(len(y))
    n_test, n_val = int(round(test * len(y))), int(round(val * len(y)))
    te, va, tr = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
    return x[tr], y[tr], x[va], y[va], x[te], y[te]


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    # scikit-learn parses its CSV on every call (milliseconds per reset); the split copies anyway
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    x.flags.writeable = y.flags.writeable = False
    return x, y


def _digits(rng: np.random.Generator) -> Dataset:
    x, y = _digits_arrays()
    xtr, ytr, xva, yva, xte, yte = _split(x, y, rng, 0.1, 0.2)
    return Dataset("digits", xtr, ytr, xva, yva, xte, yte, num_classes=10)


def _find(root: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (root / name).is_file():
            return root / name
    raise FileNotFoundError(stem)


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def _mnist_like(name: str, root: Path, rng: np.random.Generator) -> Dataset:
    stems = [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ]
    try:
        paths = [_find(root, s) for s in stems]
    except FileNotFoundError as exc:
        raise ValueError(
            f"fl.dataset={name!r}: {exc.args[0]}[.gz] not found in fl.data_root={str(root)!r}; place the four "
            f"IDX files of the standard distribution there ({', '.join(stems)})"
        ) from None
    xtr, ytr, xte, yte = (_read_idx(p) for p in paths)
    x_train = (xtr.astype(np.float32) / 255.0)[:, None]
    x_test = (xte.astype(np.float32) / 255.0)[:, None]
    order = rng.permutation(len(ytr))
    n_val = len(ytr) // 10
    va, tr = order[:n_val], order[n_val:]
    return Dataset(
        name,
        x_train[tr],
        ytr[tr].astype(np.int64),
        x_train[va],
        ytr[va].astype(np.int64),
        x_test,
        yte.astype(np.int64),
        num_classes=10,
    )


class _ArrayUnpickler(pickle.Unpickler):
    """CIFAR-10's python batches are pickles of dicts, lists, bytes and numpy arrays: this
    unpickler rebuilds exactly those and refuses any other global, so a tampered batch cannot
    run code."""

    ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),  # bytes in a protocol-2 pickle written by Python 3
        }
    )

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a data batch")
        return super().find_class(module, name)


def _cifar10(root: Path, rng: np.random.Generator) -> Dataset:
    folder = root / "cifar-10-batches-py" if (root / "cifar-10-batches-py").is_dir() else root
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise ValueError(
            f"fl.dataset='cifar10': {missing[0]} not found in {str(folder)!r}; unpack the python version of "
            "CIFAR-10 (cifar-10-batches-py) under fl.data_root"
        )

    def read(name: str) -> tuple[np.ndarray, np.ndarray]:
        try:
            with open(folder / name, "rb") as fh:
                d = _ArrayUnpickler(fh, encoding="bytes").load()  # the distribution's format
            return d[b"data"].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0, np.asarray(
                d[b"labels"], dtype=np.int64
            )
        except (pickle.UnpicklingError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(
                f"fl.dataset='cifar10': {folder / name} is not a CIFAR-10 batch ({exc})"
            ) from None

    parts = [read(n) for n in names[:5]]
    x, y = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    xte, yte = read("test_batch")
    order = rng.permutation(len(y))
    va, tr = order[:5000], order[5000:]
    return Dataset("cifar10", x[tr], y[tr], x[va], y[va], xte, yte, num_classes=10)


def synthetic(
    alpha: float, beta: float, devices: int, samples: int, rng: np.random.Generator
) -> Dataset:
    """FedProx synthetic(alpha, beta): 60 features, 10 classes, device-specific model and inputs.

    Device k: u_k ~ N(0, alpha), B_k ~ N(0, beta); W_k, b_k ~ N(u_k, 1); v_k ~ N(B_k, 1);
    x ~ N(v_k, diag(j^-1.2)); y = argmax(softmax(W_k x + b_k)). Sizes are log-normal.
    """
    dim, classes = 60, 10
    sizes = rng.lognormal(4, 2, size=devices)
    sizes = np.maximum((sizes / sizes.sum() * samples).astype(int), 10)
    cov = np.array([(j + 1) ** -1.2 for j in range(dim)])
    xs, ys, owner = [], [], []
    for k in range(devices):
        u, b_mean = rng.normal(0, np.sqrt(alpha)), rng.normal(0, np.sqrt(beta))
        w = rng.normal(u, 1, size=(dim, classes))
        b = rng.normal(u, 1, size=classes)
        v = rng.normal(b_mean, 1, size=dim)
        x = rng.normal(v, np.sqrt(cov), size=(sizes[k], dim))
        xs.append(x)
        ys.append(np.argmax(x @ w + b, axis=1))
        owner.append(np.full(sizes[k], k))
    x_all = np.concatenate(xs).astype(np.float32)
    y_all = np.concatenate(ys).astype(np.int64)
    own = np.concatenate(owner)
    order = rng.permutation(len(y_all))
    n_test, n_val = len(order) // 5, len(order) // 10
    te, va, tr = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
    return Dataset(
        "synthetic",
        x_all[tr],
        y_all[tr],
        x_all[va],
        y_all[va],
        x_all[te],
        y_all[te],
        classes,
        own[tr],
    )


def load_dataset(
    name: str,
    rng: np.random.Generator,
    data_root: str | None = None,
    *,
    synthetic_alpha: float = 1.0,
    synthetic_beta: float = 1.0,
    synthetic_devices: int = 30,
    synthetic_samples: int = 6000,
) -> Dataset:
    """Load (or generate) ``name`` with fixed train / validation / test splits drawn from ``rng``.

    Raises:
        ValueError: an unknown name, a missing ``data_root``, or files not where they must be.
    """
    if name == "digits":
        return _digits(rng)
    if name == "synthetic":
        return synthetic(synthetic_alpha, synthetic_beta, synthetic_devices, synthetic_samples, rng)
    if name in ("mnist", "fashion_mnist", "cifar10"):
        if not data_root:
            raise ValueError(
                f"fl.data_root must name a local folder for fl.dataset={name!r}; nothing is downloaded"
            )
        root = Path(data_root)
        if not root.is_dir():
            raise ValueError(f"fl.data_root={data_root!r} is not a folder")
        return _cifar10(root, rng) if name == "cifar10" else _mnist_like(name, root, rng)
    raise ValueError(
        f"fl.dataset={name!r} is not allowed: choose one of ['digits', 'mnist', 'fashion_mnist', 'cifar10', 'synthetic']"
    )
