#!/usr/bin/env bash
# GPU check (issue 23), a few minutes on one GPU: the model contract test on CUDA, the device
# throughput benchmark, then GMF with its default options on the NCF paper's ML-1M split, timed.
#
#   scripts/gpu_check.sh --prepare   here (with the project's .venv): download the wheels the GPU
#                                    machine lacks (pydantic and its parts, for Python 3.12) into .whl/
#                                    and copy the NCF files from ../shared/data into .gpu-data/
#   scripts/gpu_check.sh             there: install the wheels into /tmp/site, run the checks; results
#                                    in $OUT (or ./gpu-check/) as log and JSON
#
# The GPU machine has its own Python and a CUDA build of torch; deeprecs runs from src/ (PYTHONPATH),
# not installed, so its pinned CPU torch is never pulled in. Targets: GMF HR@10 >= 0.730 with
# fit <= 15 s; anchors for plain PyTorch on an H200: 4M training examples/s at batch 8,192, 27M at
# 65,536, top-100 of 138,493 users x 27,278 items at 128 d in 0.07 s.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
WHEELS="pydantic==2.14.3 pydantic-core==2.50.4 annotated-types==0.8.0 typing-inspection==0.4.5"

if [[ ${1:-} == --prepare ]]; then
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    grep -qx '/.gpu-data/' .git/info/exclude 2>/dev/null || echo '/.gpu-data/' >> .git/info/exclude
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl $WHEELS
    mkdir -p .gpu-data && cp ../shared/data/ncf-ml-1m/ml-1m.{train.rating,test.rating,test.negative} .gpu-data/
    echo "prepared: .whl/ ($(ls .whl | wc -l) wheels) and .gpu-data/; run with carry [.whl, .gpu-data]"
    exit 0
fi

OUTDIR=${OUT:-$ROOT/gpu-check}
mkdir -p "$OUTDIR"
PY=${PYTHON:-python3}
if [[ -d .whl ]]; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$ROOT/src
else
    export PYTHONPATH=$ROOT/src
fi
export PYTHONUNBUFFERED=1 DEEPRECS_HOME=/tmp/deeprecs-home
$PY -c 'import torch; assert torch.cuda.is_available(), "no CUDA device"; print(torch.__version__, torch.cuda.get_device_name(0))'

echo "== contract test on cuda"
$PY -m pytest -q -p no:cacheprovider tests/models/test_contract.py -k "cuda" 2>&1 | tee "$OUTDIR/contract.log" | tail -5

echo "== device throughput"
$PY benchmarks/device.py --device cuda --out "$OUTDIR/device.json"

echo "== GMF, default options, NCF ML-1M"
DATA=${NCF_DATA:-$ROOT/.gpu-data/ml-1m}
$PY -m deeprecs.cli.main -q train gmf --data "ncf:$DATA" --device cuda --out /tmp/gpu-gmf --json > "$OUTDIR/gmf.json"
$PY - "$OUTDIR/gmf.json" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
ok = m["hr@10"] >= 0.730 and m["fit_seconds"] <= 15
print(f"gmf HR@10 {m['hr@10']:.4f} NDCG@10 {m['ndcg@10']:.4f} fit {m['fit_seconds']:.1f} s "
      f"(targets HR@10 >= 0.730, fit <= 15 s: {'met' if ok else 'NOT met'})")
PYEOF
