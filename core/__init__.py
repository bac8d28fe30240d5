"""Qt-free image classification engine: images in, ResNet50 predictions out.

The public API: what the window, the CLIs, Ray workers and benchmarks import, all from here
(`from core import Classifier`). Importing this package is cheap (no torch): each name is
imported from its module when first used, so the window can take the result types on its UI
thread and leave torch to its worker thread.

    model = load_model(weights_file)              # LoadedModel: module, labels, preprocessing
    clf = Classifier(model, "auto")               # decoder: GpuJpegDecoder (Pillow off CUDA)
    for result in clf.classify_many(paths): ...   # ClassificationResult, in order

Subsystems: `core.decode` (images in, prepared batches out), `core.teach` (new classes),
`core.scale` (Ray cluster, record file), `core.cli` (the command lines).
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> the module that defines it ("module:name" where the public name is another)
_EXPORTS = {
    # values that cross the engine's boundary (no torch)
    "ClassificationResult": "core.results",
    "DeviceInfo": "core.results",
    "ModelInfo": "core.results",
    "Prediction": "core.results",
    "CSV_HEADER": "core.results",
    "PASTED_IMAGE": "core.printable",
    "csv_rows": "core.results",
    "json_line": "core.results",
    "escape_undecodable": "core.results:printable",
    "printable": "core.printable",
    "elide_middle": "core.printable",
    "summary": "core.printable",
    # errors a user can cause
    "Cancelled": "core.errors",
    "CheckpointError": "core.errors",
    "ClassifierError": "core.errors",
    "ClusterError": "core.errors",
    "DeviceUnavailableError": "core.errors",
    "ExitCode": "core.errors",
    "ExportError": "core.errors",
    "ImageReadError": "core.errors",
    "LabelsError": "core.errors",
    "ModelLoadError": "core.errors",
    "OutOfDeviceMemoryError": "core.errors",
    "OutputFileError": "core.errors",
    "WeightsUnavailableError": "core.errors",
    # the model and the engine
    "LoadedModel": "core.model",
    "IMAGENET_LABELS": "core.model",
    "load_checkpoint": "core.model",
    "load_imagenet": "core.model",
    "load_model": "core.model",
    "read_labels": "core.model",
    "Classifier": "core.engine",
    "PRECISIONS": "core.engine",
    "explain": "core.grad_cam",
    "Explanation": "core.grad_cam",
    "write_results": "core.export",
    "resources_dir": "core.resources",
    "collector_paused": "core.imports",
    "engine_imports": "core.imports",
    # devices
    "DeviceReport": "core.devices",
    "available_devices": "core.devices",
    "cpu_model": "core.devices",
    "device_report": "core.devices",
    "resolve_device": "core.devices",
    # decoding
    "apply_image_settings": "core.decode.settings",
    "Decoder": "core.decode.decoder",
    "Prepared": "core.decode.batch",
    "PreparedBatch": "core.decode.batch",
    "PillowDecoder": "core.decode.pillow",
    "GpuJpegDecoder": "core.decode.gpu",
    "DECODE_CHOICES": "core.decode.gpu",
    "JPEG_BACKENDS": "core.decode.nvjpeg:BACKENDS",
    "installed_jpeg_backend": "core.decode.nvjpeg:installed_backend",
    "decoder_for": "core.decode.gpu",
    "Preprocess": "core.decode.preprocess",
    "read_image": "core.decode.images",
    "decode_cost_of": "core.decode.images",
    "DECODE_BUDGET": "core.decode.budget",
    "DECODE_BUDGET_BYTES": "core.decode.budget",
    "PixelBudget": "core.decode.budget",
    "ImageSource": "core.decode.files",
    "check_regular_file": "core.decode.files",
    # the GPU path's steps, one at a time (for measuring them: benchmarks/gpu_decode*.py)
    "BatchAssembly": "core.decode.gpu_decode",
    "draft_factor": "core.decode.gpu_decode",
    "normalise_into": "core.decode.gpu_decode",
    "resize_crop_into": "core.decode.gpu_decode",
    "as_one_by_one_sampling": "core.decode.jpeg_header",
    "parse_jpeg_header": "core.decode.jpeg_header",
    "expand_paths": "core.decode.files",
    "source_name": "core.decode.files",
    # teaching new classes
    "FEATURE_BATCH_CPU": "core.teach.training",
    "FEATURE_BATCH_CUDA": "core.teach.training",
    "EpochStats": "core.teach.training",
    "Misclassified": "core.teach.training",
    "Progress": "core.teach.training",
    "TrainingOptions": "core.teach.training",
    "TrainingResult": "core.teach.training",
    "save_checkpoint": "core.teach.training",
    "unreadable_images": "core.teach.probe",
    "scan_folder": "core.teach.training",
    "train": "core.teach.training",
    # many images
    "ClusterRun": "core.scale.cluster",
    "RecordFile": "core.scale.record_file",
    "result_from_row": "core.scale.cluster",
    # the photo library (core.library): keywords, sorting, corrections, the unsure
    "CorrectionStore": "core.library.corrections",
    "KeywordRecord": "core.library.keywords",
    "PARENT": "core.library.keywords",
    "plan_keywords": "core.library.keywords",
    "write_keywords": "core.library.keywords",
    "teach_from_corrections": "core.library.reteach",
    "SortPlan": "core.library.sorting",
    "SortReport": "core.library.sorting",
    "UndoReport": "core.library.sorting",
    "execute": "core.library.sorting",
    "plan_sort": "core.library.sorting",
    "undo": "core.library.sorting",
    "is_unsure": "core.library.unsure",
    "percent": "core.printable",
    "unsure_share": "core.library.unsure",
    # added as the window and the benchmarks came to need them
    "cpu_matrix_units": "core.devices",
    "copy_file": "core.export",
    "stratified_split": "core.teach.head_training",
    "keywords_for": "core.library.keywords",
    "sidecar_path": "core.library.keywords",
    "write_one": "core.library.keywords",
    "duplicate_groups": "core.library.similar",
    "faiss_available": "core.library.similar",
    "most_similar": "core.library.similar",
    "neighbours": "core.library.similar",
    "normalised": "core.library.similar",
}

__all__ = [
    "CSV_HEADER",
    "DECODE_BUDGET",
    "DECODE_BUDGET_BYTES",
    "DECODE_CHOICES",
    "FEATURE_BATCH_CPU",
    "FEATURE_BATCH_CUDA",
    "IMAGENET_LABELS",
    "JPEG_BACKENDS",
    "PARENT",
    "PASTED_IMAGE",
    "PRECISIONS",
    "BatchAssembly",
    "Cancelled",
    "CheckpointError",
    "ClassificationResult",
    "Classifier",
    "ClassifierError",
    "ClusterError",
    "ClusterRun",
    "CorrectionStore",
    "Decoder",
    "DeviceInfo",
    "DeviceReport",
    "DeviceUnavailableError",
    "EpochStats",
    "ExitCode",
    "Explanation",
    "ExportError",
    "GpuJpegDecoder",
    "ImageReadError",
    "ImageSource",
    "KeywordRecord",
    "LabelsError",
    "LoadedModel",
    "Misclassified",
    "ModelInfo",
    "ModelLoadError",
    "OutOfDeviceMemoryError",
    "OutputFileError",
    "PillowDecoder",
    "PixelBudget",
    "Prediction",
    "Prepared",
    "PreparedBatch",
    "Preprocess",
    "Progress",
    "RecordFile",
    "SortPlan",
    "SortReport",
    "TrainingOptions",
    "TrainingResult",
    "UndoReport",
    "WeightsUnavailableError",
    "__version__",
    "apply_image_settings",
    "as_one_by_one_sampling",
    "available_devices",
    "check_regular_file",
    "collector_paused",
    "copy_file",
    "cpu_matrix_units",
    "cpu_model",
    "csv_rows",
    "decode_cost_of",
    "decoder_for",
    "device_report",
    "draft_factor",
    "duplicate_groups",
    "elide_middle",
    "engine_imports",
    "escape_undecodable",
    "execute",
    "expand_paths",
    "explain",
    "faiss_available",
    "installed_jpeg_backend",
    "is_unsure",
    "json_line",
    "keywords_for",
    "load_checkpoint",
    "load_imagenet",
    "load_model",
    "most_similar",
    "neighbours",
    "normalise_into",
    "normalised",
    "parse_jpeg_header",
    "percent",
    "plan_keywords",
    "plan_sort",
    "printable",
    "read_image",
    "read_labels",
    "resize_crop_into",
    "resolve_device",
    "resources_dir",
    "result_from_row",
    "save_checkpoint",
    "scan_folder",
    "sidecar_path",
    "source_name",
    "stratified_split",
    "summary",
    "teach_from_corrections",
    "train",
    "undo",
    "unreadable_images",
    "unsure_share",
    "write_keywords",
    "write_one",
    "write_results",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use (PEP 562)."""
    if name == "__version__":
        from core.version import version

        value: Any = version()
    elif name in _EXPORTS:
        module, _, attr = _EXPORTS[name].partition(":")
        value = getattr(importlib.import_module(module), attr or name)
    else:
        raise AttributeError(f"module 'core' has no attribute {name!r}")
    return value  # not kept: a test that patches the defining module is seen here too


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


# A public name that is also the name of a submodule (`core.printable`) is bound here: importing
# that submodule would otherwise leave the module, not the function, under the name.
from core.printable import printable  # noqa: E402  (imports only `re`)
