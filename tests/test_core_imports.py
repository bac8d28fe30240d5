"""The engine's imports run with the garbage collector paused, and leave it as it was; torchvision
comes in without torch._dynamo (0.85 s of its 1.0 s), which still works when asked for."""

from __future__ import annotations

import gc
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from core.imports import collector_paused


@pytest.fixture(autouse=True)
def _restore_collector():
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()
    else:
        gc.disable()


@pytest.mark.parametrize("enabled", [True, False], ids=["was on", "was off"])
def test_the_collector_is_off_inside_and_as_it_was_after(enabled: bool) -> None:
    gc.enable() if enabled else gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled() is enabled


def test_what_the_import_made_is_frozen_out_of_later_collections() -> None:
    sys.modules.pop("json.tool", None)
    before = gc.get_freeze_count()
    with collector_paused():
        importlib.import_module("json.tool")
    assert gc.get_freeze_count() > before


def test_an_import_error_still_puts_the_collector_back() -> None:
    gc.enable()
    with pytest.raises(ModuleNotFoundError), collector_paused():
        importlib.import_module("no_such_module_here")
    assert gc.isenabled()


ROOT = Path(__file__).resolve().parents[1]


def fresh_python(code: str) -> list[str]:
    """`code`'s printed lines, run in a new interpreter (this one has torch loaded)."""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_torchvision_comes_in_without_dynamo_which_still_works_after() -> None:
    lines = fresh_python(
        "import sys, torch\n"
        "from core.imports import engine_imports\n"
        "with engine_imports():\n"
        "    import torchvision\n"
        "print('torch._dynamo' in sys.modules)\n"
        "from torchvision.ops import roi_align\n"  # the one caller of dynamo's helper
        "x, boxes = torch.rand(1, 1, 8, 8), torch.tensor([[0, 0.0, 0.0, 4.0, 4.0]])\n"
        "print(tuple(roi_align(x, boxes, output_size=2).shape))\n"
        "print(torch.compile(lambda t: t + 1, backend='eager')(torch.zeros(1)).item())\n"
    )
    assert lines == ["False", "(1, 1, 2, 2)", "1.0"]


def test_a_classification_never_imports_dynamo_and_gives_the_same_result(
    checkpoint: Path, photos: dict[str, Path]
) -> None:
    """The model is then built without the meta device (whose initialisers import dynamo): the
    load overwrites every tensor, so the result is the one of a model built on it (here, where
    torchvision, and with it dynamo, was imported the usual way)."""
    from core import Classifier, load_checkpoint

    assert "torch._dynamo" in sys.modules
    want = Classifier(load_checkpoint(checkpoint), "cpu").classify(photos["chelsea"])
    lines = fresh_python(
        "import sys\n"
        "from core.imports import engine_imports\n"
        "with engine_imports():\n"
        "    from core import Classifier, load_checkpoint\n"
        f"r = Classifier(load_checkpoint({str(checkpoint)!r}), 'cpu').classify("
        f"{str(photos['chelsea'])!r})\n"
        "print([(p.index, p.probability) for p in r.predictions])\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    assert lines == [str([(p.index, p.probability) for p in want.predictions]), "False"]
