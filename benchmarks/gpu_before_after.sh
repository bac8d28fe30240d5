#!/bin/bash
# The CLI before (an older commit) and after (this checkout) on the GPU and the Pillow paths, side by side,
# and the CUDA tests, in one call on the device machine. Prepare here, then run there with
# carry [".gpu"]:  mkdir -p .gpu/before && git archive 46aa168 core benchmarks | tar -x -C .gpu/before
#                  cp benchmarks/gpu_before_after.sh .gpu/ && bash .gpu/gpu_before_after.sh
export PYTHONUNBUFFERED=1
R=$PWD; W=/tmp/w; mkdir -p $W
t0=$(date +%s)
F=$(python3 -c "
from pathlib import Path
from benchmarks.gpu_fullsize import fullsize_folder
from benchmarks.data import make_checkpoint
f, info = fullsize_folder(400); make_checkpoint(Path('$W/ckpt.pth')); print(f)
import sys; print(info, file=sys.stderr)" | tail -1)
echo "corpus $F made in $(( $(date +%s)-t0 )) s"; nvidia-smi --query-gpu=name --format=csv,noheader
run() { # tag code-dir decode
  ( cd $2 && s=$(date +%s.%N); python3 -m core "$F" --weights $W/ckpt.pth --device cuda --decode $3 --format json > $W/$1.json 2>$W/$1.err; rc=$?; e=$(date +%s.%N); echo "$1 rc=$rc $(python3 -c "print(round($e-$s,2))") s" )
}
for i in 1 2; do run before_gpu_$i .gpu/before gpu; run after_gpu_$i . gpu; done
run before_cpu .gpu/before cpu; run after_cpu . cpu
python3 - <<'PY'
import json
def load(n): return [json.loads(l) for l in open(f"/tmp/w/{n}.json")]
def cmp(a, b):
    A, B = load(a), load(b)
    same = sum(x == y for x, y in zip(A, B))
    top1 = sum((x.get("predictions") or [{}])[0].get("index") == (y.get("predictions") or [{}])[0].get("index") for x, y in zip(A, B))
    raw = open(f"/tmp/w/{a}.json","rb").read() == open(f"/tmp/w/{b}.json","rb").read()
    print(f"{a} vs {b}: {len(A)}/{len(B)} records, byte-identical={raw}, identical records {same}, same top-1 {top1}")
cmp("before_gpu_1","before_gpu_2"); cmp("before_gpu_1","after_gpu_1"); cmp("after_gpu_1","after_gpu_2"); cmp("before_cpu","after_cpu"); cmp("after_gpu_1","after_cpu")
PY
cp $W/*.err $OUT/ 2>/dev/null; head -c 2000 $W/after_gpu_1.err
timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_gpu_pipeline.py tests/test_decoder_routing.py tests/test_decoder_seam.py tests/test_engine.py tests/test_devices.py 2>&1 | tail -15
echo "total $(( $(date +%s)-t0 )) s"
