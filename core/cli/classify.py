"""`resnet-classify`: the command line on top of the engine.

Exit status: 0 all classified, 1 some images failed, 2 usage error (or an --output file that is
not ours), 3 model not loaded, 4 the cluster missing (no Ray, unreachable) or lost mid-run.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from core.cli import library as library_cli
from core.cli.help import CLASSIFY_EPILOG, failure_summary, model_error_lines
from core.cli.output import record_file_writer, writer_for
from core.cli.progress import DownloadBar, ImagesBar
from core.errors import ClassifierError, ClusterError, ExitCode
from core.printable import printable as escaped
from core.results import ClassificationResult
from core.version import version

if TYPE_CHECKING:
    from collections.abc import Iterable

    from core.engine import Classifier
    from core.model import LoadedModel
    from core.scale.record_file import RecordFile


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="resnet-classify",
        description="Classify images with ResNet50 and print their top predictions.",
        epilog=CLASSIFY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    p.add_argument(
        "--weights", metavar="FILE", help="your own ResNet50 checkpoint (.pth, .pt, .safetensors)"
    )
    p.add_argument(
        "--labels", metavar="FILE", help="class names: text (one per line) or a JSON list"
    )
    p.add_argument(
        "--variant",
        default="IMAGENET1K_V2",
        choices=["IMAGENET1K_V1", "IMAGENET1K_V2"],
        help="ImageNet weights to use when --weights is not given (default: %(default)s)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument(
        "--top", type=int, default=5, metavar="K", help="predictions per image (default: 5)"
    )
    p.add_argument(
        "--format",
        choices=["table", "json", "csv"],
        help="output format (default: table on a terminal, json otherwise)",
    )
    p.add_argument("--recursive", "-r", action="store_true", help="also look in sub-folders")
    p.add_argument(
        "--explain",
        metavar="OUT_DIR",
        help="also save a Grad-CAM heat map of each image's top prediction as OUT_DIR/NAME.png",
    )
    p.add_argument(
        "--precision",
        choices=["fp32", "bf16", "fp16"],
        default="fp32",
        help="fp32 (default) gives the reference probabilities; bf16 (CPUs with bf16 support) "
        "or fp16 (CUDA) is faster, with the same top-1 almost always (README: How fast it is)",
    )
    _add_device_options(p)
    p.add_argument("--batch-size", type=int, default=8, metavar="N", help=argparse.SUPPRESS)
    _add_scale_out_arguments(p)
    library_cli.add_arguments(p)
    p.add_argument("--verbose", "-v", action="store_true", help="log what the engine does")
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    if _asks_for_devices(sys.argv[1:] if argv is None else argv):
        return _print_devices()
    if (journal := library_cli.asks_for_undo(sys.argv[1:] if argv is None else argv)) is not None:
        return library_cli.run_undo(journal)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.top < 1:
        parser.error("--top must be at least 1")
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    _check_scale_out_arguments(parser, args)
    library_cli.check(parser, args)
    if (code := library_cli.run_corrections(args)) is not None:
        return code
    if args.explain is not None:
        try:
            Path(args.explain).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            parser.error(f"--explain: cannot create the folder {args.explain}: {exc.strerror}")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return _run(args)
    except ClassifierError as exc:  # the cluster or the output file failed mid-run: the
        # records so far are kept
        print(f"resnet-classify: {escaped(str(exc), keep_newlines=True)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return ExitCode.INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    # The folders are listed, and CUDA started, while the rest loads (`core.cli.startup`);
    # torch is imported here so that `--help` and usage errors answer without loading it.
    from core.cli.startup import Listing, start_cuda
    from core.imports import engine_imports

    listing = Listing(args.paths, args.recursive)
    with engine_imports():
        import torch  # noqa: F401  (what everything below needs first)

    paths = listing.paths()
    if not paths:
        print("resnet-classify: no images found in the given folders.", file=sys.stderr)
        return ExitCode.SOME_FAILED
    record_file = None
    if args.output is not None:
        try:
            record_file = _open_output(args.output, args.format)
        except ClassifierError as exc:
            print(f"resnet-classify: {escaped(str(exc))}", file=sys.stderr)
            return exc.exit_code
        paths = record_file.remaining(paths)
        if not paths:
            print(
                f"resnet-classify: every image already has a record in {escaped(args.output)}.",
                file=sys.stderr,
            )
            return ExitCode.SOME_FAILED if record_file.failed else ExitCode.OK
    if args.cluster and (code := _join_cluster(args)) is not None:
        return code
    if not args.cluster:
        start_cuda(args.device)
    with engine_imports():
        from core.decode.gpu import decoder_for
        from core.engine import Classifier
        from core.model import load_model

    fmt = record_file.format if record_file else None
    fmt = fmt or args.format or ("table" if sys.stdout.isatty() else "json")
    interactive = sys.stderr.isatty()
    try:
        model = load_model(
            args.weights,
            args.labels,
            variant=args.variant,
            progress=DownloadBar() if interactive else None,
        )
        classifier = (
            None
            if args.cluster
            else Classifier(
                model, args.device, precision=args.precision, decoder=decoder_for(args.decode)
            )
        )
    except ClassifierError as exc:  # the model is not usable: nothing can be classified
        lines = model_error_lines("resnet-classify", exc, "--weights")
        print(*(escaped(line) for line in lines), sep="\n", file=sys.stderr)
        return ExitCode.MODEL
    for note in model.notes:
        print(f"resnet-classify: warning: {escaped(note)}", file=sys.stderr)
    if classifier is None:
        try:
            results = _cluster_results(args, model, paths)
        except ClassifierError as exc:
            print(f"resnet-classify: {exc}", file=sys.stderr)
            return exc.exit_code
    else:
        results = classifier.classify_many(
            paths, top_k=args.top, batch_size=args.batch_size, features=bool(args.duplicates)
        )

    library = library_cli.LibraryRun(args)
    results = library.observe(results)
    writer = record_file_writer(record_file, fmt) if record_file else writer_for(fmt, sys.stdout)
    if library.prints_plan and not record_file:
        writer = lambda _result: None  # noqa: E731 - the plan is printed in their place
    progress = ImagesBar(len(paths)) if interactive and len(paths) > 1 else None
    failed = record_file.failed if record_file else 0
    saved: set[str] = set()
    classified = unreadable = 0
    for result in results:
        if progress:
            progress.clear()
        writer(result)
        sys.stdout.flush()
        if args.explain is not None and result.ok and classifier is not None:
            failed += not _save_explanation(classifier, result, Path(args.explain), saved)
        failed += not result.ok
        classified += 1
        unreadable += not result.ok
        if progress:
            progress.advance()
    if progress:
        progress.close()
    failed += library.finish(fmt)
    if unreadable:
        print(f"resnet-classify: {failure_summary(unreadable, classified, fmt)}", file=sys.stderr)
    return ExitCode.SOME_FAILED if failed else ExitCode.OK


# ---- devices: the doctor and where JPEGs are decoded (core.devices, core.decode.gpu_pipeline) ----------
def _add_device_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--devices",
        action="store_true",
        help="list the devices PyTorch can use here (and why a GPU is missing), then exit",
    )
    p.add_argument(
        "--decode",
        choices=["auto", "gpu", "cpu"],
        default="auto",
        help="on a CUDA GPU, decode JPEGs on the GPU (gpu) or with Pillow (cpu); auto: on the "
        "GPU (README: GPU decoding) (default: %(default)s)",
    )


def _asks_for_devices(argv: Sequence[str]) -> bool:
    """`--devices` needs no PATH, so it is answered before the usual parsing."""
    return "--devices" in argv and "--help" not in argv and "-h" not in argv


def _print_devices() -> int:
    from core.imports import engine_imports

    with engine_imports():
        from core.devices import device_report

    sys.stdout.write(device_report().to_text())
    return ExitCode.OK


def _save_explanation(
    classifier: Classifier, result: ClassificationResult, out_dir: Path, taken: set[str]
) -> bool:
    """Save the Grad-CAM overlay of the top prediction as OUT_DIR/<image name>.png.

    The map is made from the same decode the prediction used, drawn over the full-size image.
    Two images of one name get NAME.png, NAME-2.png... False (and a message) on failure.
    """
    from core.decode.images import read_image
    from core.grad_cam import explain

    name = stem = Path(result.path).stem
    n = 1
    while stem.lower() in taken:
        n += 1
        stem = f"{name}-{n}"
    taken.add(stem.lower())
    try:
        explanation = explain(classifier, result.path, result.top.index)
        explanation.overlay(read_image(result.path)).save(out_dir / f"{stem}.png")
    except ClassifierError as exc:
        print(
            f"resnet-classify: no heat map for {escaped(result.path)}: {escaped(str(exc))}",
            file=sys.stderr,
        )
        return False
    except OSError as exc:
        print(
            f"resnet-classify: cannot save the heat map for {escaped(result.path)}: "
            f"{escaped(str(exc))}",
            file=sys.stderr,
        )
        return False
    return True


# ---- scale-out: --cluster (Ray) and --output (resumable record file) -------------------------
def _add_scale_out_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("many images (docs/cluster.md)")
    g.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write the records to FILE, each as soon as it is ready; if FILE already holds "
        "records, their images are skipped and the new records are appended (a rerun resumes)",
    )
    g.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run on a Ray cluster: auto, or the head's host:port (needs "
        "pip install 'resnet-classifier[cluster]'); every node must see the paths",
    )
    g.add_argument(
        "--actors",
        type=int,
        metavar="N",
        help="with --cluster: model copies to run (default: one per GPU with --device cuda, "
        "else one per CPU of the cluster but one)",
    )
    g.add_argument(
        "--cpus-per-actor",
        type=float,
        metavar="N",
        help="with --cluster: CPUs each model copy holds and decodes with (default: 1 on CPU, "
        "the cluster's CPUs shared out among the GPUs with --device cuda)",
    )


def _check_scale_out_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.cluster is None:
        if args.actors is not None or args.cpus_per_actor is not None:
            parser.error("--actors and --cpus-per-actor go with --cluster")
        return
    if args.explain is not None:
        parser.error("--explain runs on this machine only; leave it out with --cluster")
    from core.scale.cluster import RAY_MISSING, ray_installed

    if not ray_installed():
        parser.exit(ClusterError.exit_code, f"resnet-classify: {RAY_MISSING}\n")
    if args.actors is not None and args.actors < 1:
        parser.error("--actors must be at least 1")
    if args.cpus_per_actor is not None and args.cpus_per_actor <= 0:
        parser.error("--cpus-per-actor must be more than 0")


def _join_cluster(args: argparse.Namespace) -> int | None:
    """Connect before the model loads, so that a wrong address fails at once; the exit code."""
    from core.scale.cluster import connect

    try:
        connect(args.cluster, verbose=args.verbose)
    except ClusterError as exc:
        print(f"resnet-classify: {exc}", file=sys.stderr)
        return exc.exit_code
    return None


def _open_output(path: str, fmt: str | None) -> RecordFile:
    from core.scale.record_file import RecordFile

    return RecordFile.open(path, fmt)


def _cluster_results(
    args: argparse.Namespace, model: LoadedModel, paths: list[Path]
) -> Iterable[ClassificationResult]:
    from core.scale.cluster import ClusterRun

    run = ClusterRun(
        paths,
        model,
        args.cluster,
        device=args.device,
        precision=args.precision,
        top_k=args.top,
        batch_size=args.batch_size,
        actors=args.actors,
        cpus_per_actor=args.cpus_per_actor,
        verbose=args.verbose,
    )
    print(f"resnet-classify: on the cluster, {run.plan.describe()}.", file=sys.stderr)
    return run


if __name__ == "__main__":
    raise SystemExit(main())
