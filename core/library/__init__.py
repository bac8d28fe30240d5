"""The photo library: keywords written into the photos, sorting with undo, corrections, similar
photos. Qt-free; the CLI (core/cli/library.py) and the window use the same modules."""
