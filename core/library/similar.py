"""Similar photos and near-duplicates, from the pooled features the engine returns with each
classification (the 2048 values before `fc`; no second pass through the network).

Similarity is the cosine of two photos' features. Up to `LIBRARY_FROM` photos the search is
exact, a matrix product in blocks (numpy); from there on, when faiss (`pip install
'resnet-classifier[similar]'`) is installed, its inverted-file index answers instead: each photo
is compared with the photos of a few k-means cells rather than with all of them, where the
exact search grows with the square of the folder (benchmarks/similar.py, README: Similar photos).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

LIBRARY_FROM = 20_000
"""Folder size from which faiss's IVF index is used, when installed (benchmarks/similar.py)."""
DEFAULT_SIMILARITY = 0.95
BLOCK = 2048  # query rows per matrix product: bounds the memory of the exact search
NPROBE = 16  # cells of the faiss index each query looks into


@dataclass(frozen=True)
class DuplicateGroup:
    """Photos that are near-copies of each other; `similarity[i]` is that of `paths[i]` to its
    closest other member."""

    paths: tuple[str, ...]
    similarity: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"group": list(self.paths), "similarity": [round(s, 4) for s in self.similarity]}


def normalised(features: Any) -> np.ndarray:
    """Rows scaled to unit length (float32), so a dot product is the cosine."""
    x = np.asarray(features, dtype=np.float32)
    x = np.atleast_2d(x)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def neighbours(features: Any, k: int, method: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Each row's `k` most similar other rows: (similarities, indices), best first.

    `method` "exact" (numpy), "ivf" (faiss) or "auto" (ivf from `LIBRARY_FROM` rows, when
    faiss is installed). Rows with fewer than k others get -1 indices and -inf similarities.
    """
    x = normalised(features)
    n = len(x)
    k = max(1, k)
    if method == "auto":
        method = "ivf" if n >= LIBRARY_FROM and faiss_available() else "exact"
    if method == "ivf":
        sims, idx = _ivf(x, min(k + 1, n))
    else:
        sims, idx = _exact(x, min(k + 1, n))
    return _without_self(sims, idx, k)


def most_similar(features: Any, row: int, k: int = 10) -> list[tuple[int, float]]:
    """The `k` rows most like `row` (exact), best first: (row, similarity)."""
    x = normalised(features)
    sims = x @ x[row]
    sims[row] = -np.inf
    order = np.argsort(-sims)[: min(k, len(x) - 1)]
    return [(int(i), float(sims[i])) for i in order]


def duplicate_groups(
    paths: Sequence[str],
    features: Any,
    threshold: float = DEFAULT_SIMILARITY,
    k: int = 8,
    method: str = "auto",
) -> list[DuplicateGroup]:
    """Groups of photos whose features are at least `threshold` alike, linked through each
    photo's `k` nearest; largest groups first, each in the order the photos came."""
    if len(paths) < 2:
        return []
    sims, idx = neighbours(features, k, method)
    parent = list(range(len(paths)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    best = np.full(len(paths), -np.inf)
    for i in range(len(paths)):
        for s, j in zip(sims[i], idx[i], strict=True):
            if j < 0 or s < threshold:
                break
            parent[root(i)] = root(int(j))
            best[i] = max(best[i], s)
            best[j] = max(best[j], s)
    members: dict[int, list[int]] = {}
    for i in range(len(paths)):
        members.setdefault(root(i), []).append(i)
    groups = [
        DuplicateGroup(tuple(paths[i] for i in g), tuple(float(best[i]) for i in g))
        for g in members.values()
        if len(g) > 1
    ]
    return sorted(groups, key=lambda g: (-len(g.paths), g.paths[0]))


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _exact(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    sims = np.empty((len(x), k), dtype=np.float32)
    idx = np.empty((len(x), k), dtype=np.int64)
    for start in range(0, len(x), BLOCK):
        block = x[start : start + BLOCK] @ x.T
        top = np.argpartition(-block, k - 1, axis=1)[:, :k]
        top_sims = np.take_along_axis(block, top, axis=1)
        order = np.argsort(-top_sims, axis=1)
        idx[start : start + BLOCK] = np.take_along_axis(top, order, axis=1)
        sims[start : start + BLOCK] = np.take_along_axis(top_sims, order, axis=1)
    return sims, idx


def _ivf(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """faiss's inverted-file index: the vectors split into about 4 sqrt(N) cells by k-means;
    each query compares itself with the vectors of its `NPROBE` nearest cells only."""
    import faiss

    n, d = x.shape
    cells = max(1, min(int(4 * np.sqrt(n)), n // 39))
    quantizer = faiss.IndexFlatIP(d)
    index = faiss.IndexIVFFlat(quantizer, d, cells, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(0)
    sample = x[rng.choice(n, size=min(n, 64 * cells), replace=False)]
    index.train(np.ascontiguousarray(sample))
    index.add(np.ascontiguousarray(x))
    index.nprobe = min(NPROBE, cells)
    sims, idx = index.search(np.ascontiguousarray(x), k)
    return sims, idx


def _without_self(sims: np.ndarray, idx: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Drop each row's own index (wherever the search put it) and keep k."""
    n = len(idx)
    out_s = np.full((n, k), -np.inf, dtype=np.float32)
    out_i = np.full((n, k), -1, dtype=np.int64)
    for r in range(n):
        keep = idx[r] != r
        row_i, row_s = idx[r][keep][:k], sims[r][keep][:k]
        row_i, row_s = row_i[row_i >= 0], row_s[row_i >= 0]
        out_i[r, : len(row_i)] = row_i
        out_s[r, : len(row_s)] = row_s
    return out_s, out_i
