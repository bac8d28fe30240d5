"""A seeded fuzz run: hundreds of mutants of real photos, each gets exactly one record.

The corpus is made at test time (`hostile_corpus.mutants`): byte flips, truncations, header
size fields set to zero or huge, in every format the engine reads. The CLI runs over it as a
user would: no traceback, no warning on stderr, no hang, one JSON record per file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hostile_corpus import mutants

ROOT = Path(__file__).resolve().parent.parent
SEED = 11
COUNT = 200


@pytest.fixture(scope="module")
def fuzz_folder(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return mutants(tmp_path_factory.mktemp("fuzz"), seed=SEED, count=COUNT)


def test_every_mutant_gets_exactly_one_record_and_nothing_leaks(
    fuzz_folder: list[Path], checkpoint: Path
):
    folder = fuzz_folder[0].parent
    args = ["--weights", str(checkpoint), "--format", "json", "--top", "1", "--batch-size", "16"]
    out = subprocess.run(
        [sys.executable, "-m", "core", *args, str(folder)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONWARNINGS": "default"},
        timeout=600,
    )
    assert out.returncode in (0, 1), out.stderr[-2000:]
    # No traceback, no warning, no libtiff noise: only the closing count of the files that failed.
    lines = out.stderr.splitlines()
    assert len(lines) <= 1, out.stderr[-2000:]
    assert all(
        re.fullmatch(
            r"resnet-classify: \d+ of \d+ files could not be classified; see the error field\.", x
        )
        for x in lines
    ), out.stderr[-2000:]

    def strict(name: str) -> None:
        raise ValueError(name)

    records = [json.loads(line, parse_constant=strict) for line in out.stdout.splitlines()]
    assert [Path(r["path"]).name for r in records] == [p.name for p in fuzz_folder]
    for record in records:
        assert ("error" in record) != ("predictions" in record), record
        if "error" in record:
            assert record["error"].startswith(Path(record["path"]).name), record
