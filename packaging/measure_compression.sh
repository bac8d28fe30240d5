#!/usr/bin/env bash
# Compressors on a sample of the .deb's contents (docs/installers.md, "Compression").
#   packaging/measure_compression.sh [dist/resnet-classifier] [EVERY]
# The sample: one 8 MiB chunk in every EVERY (default 64) of the bundle's tar stream, so each
# compressor sees the same mix of CUDA, torch and Qt files in minutes rather than hours.
# Prints, per compressor (one thread each), the output bytes and the CPU seconds it took.
set -euo pipefail
bundle=${1:-dist/resnet-classifier}
every=${2:-64}
sample=$(mktemp --suffix=.tar)
trap 'rm -f "$sample" "$sample.out"' EXIT
tar -cf - -C "$bundle" . | python3 -c "
import sys
inp, out, every, n = sys.stdin.buffer, open('$sample', 'wb'), $every, 0
while chunk := inp.read(8 << 20):
    if n % every == 0:
        out.write(chunk)
    n += 1
"
echo "sample: $(stat -c %s "$sample") bytes"
for c in "zstd -3" "zstd -9" "zstd -15" "zstd -19" "xz -6 -T1"; do
  /usr/bin/time -f "%U %S" -o "$sample.time" nice -n 10 $c -c -q "$sample" > "$sample.out"
  read -r user sys < "$sample.time"
  echo "$c: $(stat -c %s "$sample.out") bytes, $(echo "$user + $sys" | bc) s CPU"
done
rm -f "$sample.time"
