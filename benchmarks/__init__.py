"""Side-by-side measurements of the classifier against the baselines a user would otherwise have.

`python -m benchmarks` (or `make bench`) runs the CPU suite and writes JSON, a Markdown table and
plots to `benchmarks/results/`. `python -m benchmarks.cuda_check` and `python -m benchmarks.gpu`
are for a machine with a CUDA GPU.
"""
