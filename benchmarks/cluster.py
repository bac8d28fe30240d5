"""`python -m benchmarks.cluster`: a folder through `--cluster` on two Ray nodes vs a local run.

Starts a head and one more node on this machine (127.0.0.1, one CPU each, as the tests do: the
two cores of this machine), then, in interleaved rounds over the benchmark folder of 100 photos:

- `resnet-classify` locally and with `--cluster` (two actors, one per node; and the default
  pool, which leaves one CPU to Ray Data), each a fresh process, end to end;
- inside this process, the same two runs with a clock on every record, to split the cluster's
  overhead into start-up (connect, actors start, model fetched) and the steady rate;
- the driver alone: how many records a second it turns back into records and writes.

Writes `results/cluster.json` and `results/cluster.md`. The 10-node figures in the report are a
projection from these per-actor rates and from the H100 figures in `results/gpu.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GPU_NODE_IMAGES_PER_S = 376.1  # results/gpu.md: one H100 node, 16 cores, the default path
CPU_CORE_IMAGES_PER_S = 27.02 / 2  # results/cpu.md: the folder on this machine's 2 cores, quiet


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cluster", description=__doc__)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    p.add_argument("--report-only", action="store_true", help="rewrite cluster.md from its json")
    args = p.parse_args(argv)
    if args.report_only:
        result = json.loads((args.out / "cluster.json").read_text())
        (args.out / "cluster.md").write_text(report(result))
        return 0
    # before Ray loads: every address on 127.0.0.1; workers import this checkout
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
    )
    from benchmarks.data import make_inputs

    inp = make_inputs(log=print)
    files = inp.folder_files()
    started = time.perf_counter()
    load_start = os.getloadavg()

    import ray
    from ray.cluster_utils import Cluster

    local = {"num_cpus": 1, "node_ip_address": "127.0.0.1"}
    cluster = Cluster(initialize_head=True, head_node_args={**local, "include_dashboard": False})
    cluster.add_node(**local)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        rounds = [_round(i, inp, files, cluster.address) for i in range(args.rounds)]
        driver = _driver_rate()
    finally:
        ray.shutdown()
        cluster.shutdown()
    result = {
        "command": "python -m benchmarks.cluster" + (f" --rounds {args.rounds}"),
        "machine": _machine(),
        "load_average_start_end": [load_start, os.getloadavg()],
        "run_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started),
        "images": len(files),
        "rounds": rounds,
        "driver_records_per_s": driver,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cluster.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "cluster.md").write_text(report(result))
    print(report(result))
    return 0


def _round(i: int, inp, files: list[Path], address: str) -> dict[str, object]:
    print(f"round {i + 1}: CLI local / cluster x2 / cluster default, then in-process", flush=True)
    out: dict[str, object] = {
        "cli_local_s": _cli(inp, []),
        "cli_cluster_2_actors_s": _cli(inp, ["--cluster", address, "--actors", "2"]),
        "cli_cluster_default_s": _cli(inp, ["--cluster", address]),
    }
    out["inproc_local"] = _inproc_local(inp, files)
    out["inproc_cluster_2_actors"] = _inproc_cluster(inp, files, address, actors=2)
    print(f"  {out}", flush=True)
    return out


def _cli(inp, extra: list[str]) -> float:
    """Wall time of `resnet-classify` over the folder in a fresh process, records to a file."""
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "records.jsonl"
        cmd = [sys.executable, "-m", "core", "--weights", str(inp.checkpoint), "-o", str(output)]
        start = time.perf_counter()
        done = subprocess.run(
            [*cmd, *extra, str(inp.folder)], cwd=ROOT, capture_output=True, text=True
        )
        seconds = time.perf_counter() - start
        lines = output.read_text().splitlines() if output.exists() else []
    if done.returncode not in (0, 1) or len(lines) != len(inp.folder_files()):
        raise RuntimeError(f"{extra}: exit {done.returncode}, {len(lines)} records\n{done.stderr}")
    return round(seconds, 2)


def _inproc_local(inp, files: list[Path]) -> dict[str, float]:
    from core import Classifier, load_model

    start = time.perf_counter()
    clf = Classifier(load_model(str(inp.checkpoint)), "cpu")
    return _clocked(clf.classify_many(files), start)


def _inproc_cluster(inp, files: list[Path], address: str, actors: int) -> dict[str, float]:
    from core import ClusterRun, load_model

    start = time.perf_counter()
    run = ClusterRun(files, load_model(str(inp.checkpoint)), address, actors=actors)
    out = _clocked(iter(run), start)
    out["records_per_node"] = sorted(run.per_node.values())
    return out


def _clocked(results, start: float) -> dict[str, float]:
    """Time to the first record, and the steady rate over the records after it."""
    stamps = [time.perf_counter() for _ in results]
    first, last = stamps[0] - start, stamps[-1] - start
    return {
        "first_record_s": round(first, 2),
        "total_s": round(last, 2),
        "steady_images_per_s": round((len(stamps) - 1) / max(last - first, 1e-9), 2),
        "images_per_s": round(len(stamps) / last, 2),
    }


def _driver_rate(n: int = 20_000) -> float:
    """Records a second the driver rebuilds from workers' rows and writes to an --output file."""
    from core import RecordFile, json_line, result_from_row

    preds = json.dumps([[i, f"class {i}", 0.1] for i in range(5)])
    rows = [
        {
            "path": f"/photos/{i:07d}.jpg",
            "file": f"/photos/{i:07d}.jpg",
            "predictions": preds,
            "error": None,
            "missing": False,
            "device": "cuda:0",
            "seconds": 0.01,
            "host": "node",
        }
        for i in range(n)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        out = RecordFile.open(Path(tmp) / "out.jsonl", "json")
        start = time.perf_counter()
        for row in rows:
            out.write(json_line(result_from_row(row)))
        seconds = time.perf_counter() - start
        out.close()
    return round(n / seconds)


def _machine() -> str:
    import ray
    import torch

    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, torch {torch.__version__}, Ray {ray.__version__}"
    )


def _median(rounds: list[dict], key: str, sub: str | None = None) -> float:
    values = [r[key][sub] if sub else r[key] for r in rounds]
    return round(statistics.median(values), 2)


def report(r: dict) -> str:
    n = r["images"]
    rounds = r["rounds"]
    local_cli = _median(rounds, "cli_local_s")
    two_cli = _median(rounds, "cli_cluster_2_actors_s")
    default_cli = _median(rounds, "cli_cluster_default_s")
    loc = {k: _median(rounds, "inproc_local", k) for k in rounds[0]["inproc_local"]}
    clu = {
        k: _median(rounds, "inproc_cluster_2_actors", k)
        for k in rounds[0]["inproc_cluster_2_actors"]
        if k != "records_per_node"
    }
    per_actor = clu["steady_images_per_s"] / 2
    cpu_nodes_actors = 10 * 16 - 1
    cpu_proj = cpu_nodes_actors * CPU_CORE_IMAGES_PER_S
    gpu_proj = 10 * GPU_NODE_IMAGES_PER_S
    startup = clu["first_record_s"]
    extra = clu["first_record_s"] - loc["first_record_s"]
    load = max(max(x) for x in r["load_average_start_end"])
    lines = [
        "# Cluster benchmark results",
        "",
        f"Command: `{r['command']}`  ",
        f"Machine: {r['machine']}  ",
        f"Load average at start / end: {r['load_average_start_end']} (2 cores shared with "
        "other work: absolute times are noisy; the runs are interleaved)  ",
        f"Run at {r['run_at']}, took {r['seconds']} s. {n} photos (the benchmark folder), "
        f"{len(rounds)} rounds, medians.",
        "",
        "Cluster: a head and one more node on this machine (`ray.cluster_utils.Cluster`, "
        "127.0.0.1), one CPU each.",
        "",
        "## End to end, a fresh `resnet-classify` process each (records to `-o FILE`)",
        "",
        "| run | seconds | images/s |",
        "|---|---|---|",
        f"| local (`resnet-classify folder`) | {local_cli} | {n / local_cli:.1f} |",
        f"| `--cluster ADDRESS --actors 2` (one actor per node) | {two_cli} | {n / two_cli:.1f} |",
        f"| `--cluster ADDRESS` (default pool: 1 actor, one CPU left to Ray Data) | "
        f"{default_cli} | {n / default_cli:.1f} |",
        "",
        "## Where the cluster's time goes (inside one process, a clock on every record)",
        "",
        "| run | to the first record (s) | all records (s) | steady images/s after the first |",
        "|---|---|---|---|",
        f"| local `classify_many` (model load included) | {loc['first_record_s']} | "
        f"{loc['total_s']} | {loc['steady_images_per_s']} |",
        f"| `ClusterRun`, 2 actors (connected already) | {clu['first_record_s']} | "
        f"{clu['total_s']} | {clu['steady_images_per_s']} |",
        "",
        f"Records per node (2 actors), per round: "
        f"{[x['inproc_cluster_2_actors']['records_per_node'] for x in rounds]}.",
        "",
        f"The driver rebuilds and writes {r['driver_records_per_s']:,} records/s to an "
        "`--output` file (20,000 synthetic rows, one flushed write each).",
        "",
        "## The overhead",
        "",
        f"The cluster's first record came {extra:.0f} s after the local run's (medians, the same "
        "load). That is paid once per run: a Ray Data actor per model copy starts (a Python "
        "process that imports torch, pulls the 98 MB model from the object store and places it), "
        "and the manifest is handed out in blocks of one batch. After that the records flow "
        f"at {clu['steady_images_per_s']} images/s from two single-thread actors against "
        f"{loc['steady_images_per_s']} locally. The load average reached {load:.0f} on 2 cores "
        "during this run (other engineers' soak tests and benchmarks), so every figure above "
        "is several times slower than on a quiet machine (the same folder runs at 27 images/s "
        "locally in `cpu.md`), and their differences are within that noise: what the run shows "
        "is the fixed start-up cost, and that two nodes share the work "
        "(records per node above).",
        "",
        "## Projection (on paper, not measured): a million photos",
        "",
        f"Per CPU core: {CPU_CORE_IMAGES_PER_S:.1f} images/s, this machine's quiet folder rate "
        "(`cpu.md`: 27.02 images/s on 2 cores; the loaded per-actor rate above was "
        f"{per_actor:.1f}). Per H100 node: {GPU_NODE_IMAGES_PER_S} images/s (`gpu.md`, the "
        "default path with 15 decoders on 16 cores, which is what a GPU actor gets here: 1 GPU "
        "and the node's CPUs but one). Ray could not be installed on the GPU machine, so no GPU "
        "figure was measured on Ray.",
        "",
        "| cluster | actors | images/s | 1,000,000 photos |",
        "|---|---|---|---|",
        f"| 10 CPU nodes x 16 cores | {cpu_nodes_actors} x 1 CPU | {cpu_proj:,.0f} | "
        f"{1e6 / cpu_proj / 60:.0f} min + start |",
        f"| 10 GPU nodes (1 H100 + 16 cores each) | 10 x (1 GPU, 15 CPU) | {gpu_proj:,.0f} | "
        f"{1e6 / gpu_proj / 60:.1f} min + start |",
        "",
        "Assumptions: throughput scales with the cores and GPUs (each actor holds its own model "
        "and decodes its own files: nothing is shared but the storage); the driver keeps up (it "
        f"writes {r['driver_records_per_s']:,} records/s, above); shared storage delivers the "
        f"files fast enough (photos of ~2 MB at {gpu_proj:,.0f} images/s are "
        f"{gpu_proj * 2 / 1000:.1f} GB/s); the start is the once-per-run cost above "
        f"({startup:.0f} s here under load; less on idle nodes).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
