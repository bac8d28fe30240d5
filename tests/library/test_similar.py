"""Near-duplicates and similar photos from the engine's pooled features, on copies the test
makes: resized, recompressed and slightly cropped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.library.similar import duplicate_groups, most_similar, neighbours
from tests.test_cli import run_cli

ORIGINALS = ("astronaut", "chelsea", "coffee", "rocket")
# The tests' backbone has random weights: it maps every photo to nearly the same direction
# (different photos: cosine up to 0.9995; copies: 0.9998 and more), so the bar is that high.
SIMILARITY = "0.9997"


@pytest.fixture(scope="module")
def album(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[set[str]]]:
    from skimage import data

    root = tmp_path_factory.mktemp("dups")
    groups = []
    for name in ORIGINALS:
        img = Image.fromarray(getattr(data, name)()).convert("RGB")
        w, h = img.size
        img.save(root / f"{name}.jpg", quality=92)
        img.resize((w // 2, h // 2)).save(root / f"{name}_resized.jpg", quality=92)
        img.save(root / f"{name}_recompressed.jpg", quality=40)
        img.crop((w // 20, h // 20, w - w // 20, h - h // 20)).save(root / f"{name}_cropped.jpg")
        groups.append(
            {str(root / f"{name}{s}.jpg") for s in ("", "_resized", "_recompressed", "_cropped")}
        )
    for name in ("camera", "hubble_deep_field", "immunohistochemistry", "retina", "horse", "moon"):
        Image.fromarray(getattr(data, name)()).convert("RGB").save(root / f"{name}.jpg")
    return root, groups


def test_duplicate_groups_are_exactly_the_copy_groups(checkpoint: Path, album):
    root, groups = album
    out = run_cli(
        "--weights", str(checkpoint), "--duplicates", "--similarity", SIMILARITY,
        "--format", "json", str(root),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    found = [json.loads(line) for line in out.stdout.splitlines()]
    assert sorted(map(sorted, (set(g["group"]) for g in found))) == sorted(map(sorted, groups))
    for g in found:
        assert len(g["similarity"]) == len(g["group"])
        assert all(float(SIMILARITY) <= s <= 1.0 for s in g["similarity"])
    assert "4 groups of near-duplicates among 22 photos" in out.stderr


def test_each_copys_nearest_neighbour_is_its_original(checkpoint: Path, album):
    from core.engine import Classifier
    from core.model import load_checkpoint

    root, _ = album
    paths = sorted(str(p) for p in root.iterdir())
    classifier = Classifier(load_checkpoint(checkpoint), "cpu")
    results = list(classifier.classify_many(paths, top_k=1, features=True))
    features = np.stack([r.features for r in results])
    assert features.shape == (len(paths), 2048)
    # the same batch gave both: the features are what fc turns into the logits
    plain = list(classifier.classify_many(paths, top_k=1))
    assert [r.predictions for r in results] == [r.predictions for r in plain]
    for i, path in enumerate(paths):
        stem = Path(path).stem
        if "_" in stem and stem.split("_")[0] in ORIGINALS:
            original = str(root / f"{stem.split('_')[0]}.jpg")
            copies = {p for p in paths if Path(p).stem.startswith(stem.split("_")[0])}
            best = paths[most_similar(features, i, 1)[0][0]]
            assert best in copies, (path, best)
            assert original in {paths[j] for j, _ in most_similar(features, i, 3)}


def test_exact_and_faiss_find_the_same_groups():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(0)
    originals = np.maximum(rng.normal(size=(300, 64)), 0).astype(np.float32)
    copies = originals[:100] + 0.01 * rng.normal(size=(100, 64)).astype(np.float32)
    x = np.concatenate([originals, copies])
    paths = [f"p{i}" for i in range(len(x))]
    exact = duplicate_groups(paths, x, 0.99, method="exact")
    ivf = duplicate_groups(paths, x, 0.99, method="ivf")
    assert len(exact) == 100 and all(len(g.paths) == 2 for g in exact)
    assert [g.paths for g in ivf] == [g.paths for g in exact]
    _sims, idx = neighbours(x, 3, "exact")
    assert idx.shape == (400, 3) and (idx != np.arange(400)[:, None]).all()
