"""Classify on a Ray cluster: the unchanged `Classifier` in a pool of Ray Data actors.

The driver turns the paths into a manifest (`ray.data.from_items`), puts the loaded model in
Ray's object store once, and streams the records back as the actors finish their batches. Each
actor holds one `Classifier` and runs every batch through `classify_many`, so a bad image comes
back as that image's error exactly as on one machine. Workers open the files themselves: the
paths must be on storage every node sees (docs/cluster.md).

Ray is an optional extra (`pip install 'resnet-classifier[cluster]'`); importing this module
does not import it, nor torch.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ClusterError, DeviceUnavailableError, first_line
from core.results import ClassificationResult, Prediction

if TYPE_CHECKING:
    from core.model import LoadedModel

log = logging.getLogger(__name__)

RAY_MISSING = (
    "--cluster needs Ray, which is not installed here. Install it with "
    "pip install 'resnet-classifier[cluster]' (or pip install 'ray[data]'), on this machine and "
    "on every node of the cluster."
)

# Logical CPUs the pool leaves free for Ray Data's own tasks: a pool holding every CPU hangs the
# first task that needs one (ray-project/ray#44687).
RESERVED_CPUS = 1
# Blocks in the manifest: one engine batch each, up to this many (a retry after a lost node
# redoes whole blocks, so small ones lose little; too many cost the scheduler).
MAX_BLOCKS = 20_000


@dataclass(frozen=True)
class ClusterPlan:
    """How a run uses the cluster: the actor pool and what each actor asks Ray for."""

    device: str  # "cpu" or "cuda": what each actor's Classifier runs on
    actors: int
    cpus_per_actor: float
    gpus_per_actor: int

    @property
    def decode_workers(self) -> int:
        """Decoding threads per actor: one per CPU it holds, as `classify_many` would pick."""
        return max(1, math.floor(self.cpus_per_actor))

    def describe(self) -> str:
        gpu = f", {self.gpus_per_actor} GPU" if self.gpus_per_actor else ""
        return (
            f"{self.actors} actor{'s' if self.actors != 1 else ''} on {self.device}, each "
            f"{self.cpus_per_actor:g} CPU{gpu}, {self.decode_workers} decoding "
            f"thread{'s' if self.decode_workers != 1 else ''}"
        )


def plan_resources(
    resources: Mapping[str, float],
    device: str = "auto",
    actors: int | None = None,
    cpus_per_actor: float | None = None,
) -> ClusterPlan:
    """Size the pool from what the cluster offers (`ray.cluster_resources()`).

    CPU actors take one CPU each by default and leave `RESERVED_CPUS` free. GPU actors
    (`cuda`, or `auto` on a cluster with GPUs) take one GPU each and share out the CPUs for
    decoding, which is what bounds a GPU (README: Benchmarks). `actors` overrides the pool size.
    """
    spec = (device or "auto").strip().lower()
    total_cpus = float(resources.get("CPU", 0))
    total_gpus = int(resources.get("GPU", 0))
    if spec == "auto":
        spec = "cuda" if total_gpus else "cpu"
    if spec.startswith("cuda"):
        if not total_gpus:
            raise DeviceUnavailableError(
                f"The cluster has no GPU, so --device {device} cannot run there. "
                "Use --device cpu (or auto)."
            )
        # Ray gives each actor its own GPU, which the actor sees as cuda:0
        if cpus_per_actor is None:
            cpus_per_actor = max(1, math.floor((total_cpus - RESERVED_CPUS) / total_gpus))
        return ClusterPlan("cuda", actors or total_gpus, cpus_per_actor, 1)
    if spec != "cpu":
        raise DeviceUnavailableError(
            f"Unknown device '{device}' for a cluster. Use auto, cpu or cuda."
        )
    cpus_per_actor = cpus_per_actor or 1
    if actors is None:
        actors = max(1, math.floor((total_cpus - RESERVED_CPUS) / cpus_per_actor))
    return ClusterPlan("cpu", actors, cpus_per_actor, 0)


def ray_installed() -> bool:
    """Whether Ray can be imported here, found without importing it (that takes a second)."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def connect(address: str, verbose: bool = False) -> Any:
    """Import Ray and join the cluster at `address` (`auto` or `host:port`); returns `ray`."""
    try:
        import ray
    except ImportError:
        raise ClusterError(RAY_MISSING) from None
    if not ray.is_initialized():
        _probe(address)
        try:
            ray.init(
                address=address,
                log_to_driver=verbose,
                logging_level=logging.INFO if verbose else logging.WARNING,
            )
        except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
            raise ClusterError(
                f"Cannot reach a Ray cluster at '{address}' ({first_line(exc)}). Start one "
                "with `ray start --head`, then pass its address (docs/cluster.md)."
            ) from None
    _quiet_ray_data(verbose)
    return ray


def _probe(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds on a `host:port` where nothing listens: `ray.init` retries for minutes."""
    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        return  # `auto`, or a form Ray resolves itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ClusterError(
            f"Cannot reach a Ray cluster at '{address}' ({exc.strerror or 'no answer'}). Start "
            "one with `ray start --head` on the head machine and pass the address it prints "
            "(docs/cluster.md)."
        ) from None


def _quiet_ray_data(verbose: bool) -> None:
    """Our progress bar and records own the terminal; Ray Data's bars and banners go."""
    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = verbose
    ctx.print_on_execution_start = verbose
    if not verbose:
        logging.getLogger("ray.data").setLevel(logging.WARNING)


class ClusterRun:
    """The records of `paths`, classified on the cluster, in the order they finish.

    Iterate to run. `per_node` counts the records each node produced so far.
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]],
        model: LoadedModel,
        address: str = "auto",
        *,
        device: str = "auto",
        precision: str = "fp32",
        top_k: int = 5,
        batch_size: int = 8,
        actors: int | None = None,
        cpus_per_actor: float | None = None,
        verbose: bool = False,
    ) -> None:
        self.ray = connect(address, verbose)
        self.plan = plan_resources(self.ray.cluster_resources(), device, actors, cpus_per_actor)
        self.paths = [str(p) for p in paths]
        self.model = model
        self.precision = precision
        self.top_k = top_k
        self.batch_size = batch_size
        self.per_node: Counter[str] = Counter()
        log.info("cluster plan: %s", self.plan.describe())

    def __iter__(self) -> Iterator[ClassificationResult]:
        if not self.paths:
            return
        ray = self.ray
        from ray.data import ActorPoolStrategy

        manifest = [_manifest_row(i, p) for i, p in enumerate(self.paths)]
        blocks = min(MAX_BLOCKS, math.ceil(len(manifest) / self.batch_size))
        model_ref = ray.put(self.model)
        plan = self.plan
        ds = ray.data.from_items(manifest, override_num_blocks=blocks).map_batches(
            ClassifyBatch,
            fn_constructor_kwargs={
                "model_ref": [model_ref],  # in a list: Ray hands the actor the ref, not 98 MB
                "device": plan.device,
                "precision": self.precision,
                "top_k": self.top_k,
                "decode_workers": plan.decode_workers,
            },
            batch_size=self.batch_size,
            batch_format="pyarrow",
            compute=ActorPoolStrategy(size=plan.actors),
            num_cpus=plan.cpus_per_actor,
            num_gpus=plan.gpus_per_actor,
            # A node lost mid-run: Ray Data gives pool actors max_restarts=-1 and
            # max_task_retries=-1, so its actors start again elsewhere and redo their batches
            # (tests/test_cluster.py removes a node mid-run).
        )
        seen: set[int] = set()
        try:
            for table in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                for row in table.to_pylist():
                    if row["id"] in seen:  # a batch redone after a lost node: once is enough
                        continue
                    seen.add(row["id"])
                    self.per_node[row["node"]] += 1
                    yield result_from_row(row)
        except ray.exceptions.RayError as exc:
            raise ClusterError(f"The cluster run failed: {first_line(exc)}") from None
        finally:
            del model_ref


class ClassifyBatch:
    """A Ray Data actor: one `Classifier`, loaded once, for every batch sent to it."""

    def __init__(
        self,
        model_ref: list[Any],
        device: str,
        precision: str,
        top_k: int,
        decode_workers: int,
    ) -> None:
        import ray

        from core.decode.settings import apply_image_settings
        from core.engine import Classifier

        apply_image_settings()  # a fresh process on its node: set it up as the CLI sets itself up
        self.classifier = Classifier(ray.get(model_ref[0]), device, precision=precision)
        self.top_k = top_k
        self.decode_workers = decode_workers
        self.node = ray.get_runtime_context().get_node_id()
        self.host = socket.gethostname()

    def __call__(self, batch: Any) -> dict[str, list[Any]]:
        rows = batch.to_pylist()
        results = self.classifier.classify_many(
            [row["file"] for row in rows],
            top_k=self.top_k,
            batch_size=len(rows),
            workers=self.decode_workers,
        )
        out: dict[str, list[Any]] = {k: [] for k in _COLUMNS}
        for row, result in zip(rows, results, strict=True):
            out["id"].append(row["id"])
            out["path"].append(row["path"])
            out["file"].append(row["file"])
            out["predictions"].append(
                json.dumps([[p.index, p.label, p.probability] for p in result.predictions])
            )
            out["error"].append(result.error)
            # told apart on the driver: a file missing everywhere, or storage that is not shared
            out["missing"].append(result.error is not None and not os.path.exists(row["file"]))
            out["device"].append(result.device)
            out["seconds"].append(result.seconds)
            out["node"].append(self.node)
            out["host"].append(self.host)
        return out


_COLUMNS = (
    "id",
    "path",
    "file",
    "predictions",
    "error",
    "missing",
    "device",
    "seconds",
    "node",
    "host",
)


def _manifest_row(index: int, path: str) -> dict[str, Any]:
    """The path as the user gave it (it names the record) and the absolute file workers open."""
    return {"id": index, "path": path, "file": os.path.abspath(path)}


def result_from_row(row: Mapping[str, Any]) -> ClassificationResult:
    """A worker's row back to the record a local run would give."""
    preds = tuple(
        Prediction(rank=r, index=i, label=label, probability=p)
        for r, (i, label, p) in enumerate(json.loads(row["predictions"]), start=1)
    )
    error = row["error"]
    if row["missing"] and os.path.exists(row["file"]):
        error = (
            f"{Path(row['path']).name}: not found on cluster node {row['host']}, though this "
            "machine sees it. Every node must see the same paths (shared storage, "
            "docs/cluster.md)."
        )
    return ClassificationResult(
        path=row["path"],
        predictions=preds,
        error=error,
        device=row["device"],
        seconds=row["seconds"],
    )
