"""What the command lines say around their results: `--help`'s examples and exit codes, the
closing summary of a run where some files failed, and the way out when the weights are missing.

Kept apart from the parsers so both command lines word these the same way (clig.dev: examples
first, exit codes spelled out, a pointer to the full guide).
"""

from __future__ import annotations

from core.errors import ClassifierError, WeightsUnavailableError

GUIDE = "docs/command-line.md (in the source tree; also the README's 'Command line' section)"

CLASSIFY_EPILOG = f"""\
examples:
  resnet-classify photo.jpg                       a table on the terminal
  resnet-classify -r photos/ > results.jsonl      one JSON object per image
  resnet-classify --format csv photos/ > out.csv  CSV, one row per prediction
  resnet-classify --weights mine.pth --labels classes.txt photos/
  resnet-classify --output run.jsonl photos/      run again to resume a killed run
  resnet-classify --devices                       which devices PyTorch can use here

exit status:
  0  every image was classified
  1  some images could not be read (the others are still printed; their records say why)
  2  usage error, or an --output file that does not hold our records
  3  the model could not be loaded (weights missing, offline, a checkpoint that does not fit)
  4  --cluster could not run
  130  interrupted

offline: without the ImageNet weights, put resnet50-11ad3fa6.pth (about 98 MB) in the folder
the error names, or classify with your own checkpoint: --weights FILE.

full guide: {GUIDE}
"""

TRAIN_EPILOG = f"""\
examples:
  resnet-train my_photos/ -o my_model.pth         my_photos/ holds one folder per class
  resnet-train my_photos/ -o my_model.pth --fine-tune --augment 1
  resnet-train my_photos/ -o my_model.pth --backbone other_resnet50.pth
  resnet-classify --weights my_model.pth new_photo.jpg

exit status:
  0  trained and saved
  1  saved, but some images could not be read (or training or saving failed)
  2  usage error, including a folder with fewer than two classes
  3  the backbone could not be loaded (ImageNet weights missing, offline)
  130  interrupted

offline: without the ImageNet weights, put resnet50-11ad3fa6.pth (about 98 MB) in the folder
the error names, or start from a checkpoint of your own: --backbone FILE.

full guide: {GUIDE}
"""


def model_error_lines(prog: str, exc: ClassifierError, own_flag: str) -> list[str]:
    """The error, and for missing ImageNet weights the flag that does without them."""
    lines = [f"{prog}: {exc}"]
    if isinstance(exc, WeightsUnavailableError) and exc.file_name:
        lines.append(f"{prog}: or use a checkpoint of your own: {own_flag} FILE")
    return lines


def failure_summary(failed: int, total: int, fmt: str) -> str:
    """ "2 of 28 files could not be classified; see the error field." (or "the errors above")"""
    where = "the errors above" if fmt == "table" else "the error field"
    if total == 1:
        return f"The file could not be classified; see {where}."
    return f"{failed} of {total} files could not be classified; see {where}."
