#!/usr/bin/env bash
# The GPU checks of issue 15, prepared to run once on a lent GPU machine (the device tool:
# `bash scripts/gpu.sh` with .whl carried, holding memory_profiler's wheel, the one package
# odebench needs that the GPU image lacks). Writes to $OUT (7 files):
#   env.txt (GPU, driver, CUDA, torch), tests.log (tests/test_cuda.py), run.log,
#   quick/{results.csv,provenance.json}  (odebench run --suite quick --device cuda)
#   table1/{results.csv,provenance.json} (scripts/gpu_table1.toml: Table 1's scaling points)
# The reports and plots are drawn afterwards on any machine: odebench report --results DIR.
# DEVICE=cpu MATCH=text try the commands on a CPU machine first.
set -u
OUT=${OUT:-/tmp/gpu-out}
DEVICE=${DEVICE:-cuda}
MATCH=${MATCH:+--match $MATCH}
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if ls .whl/*.whl > /dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH=$PYTHONPATH:/tmp/site
fi
mkdir -p "$OUT/quick" "$OUT/table1"
{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1
    python3 -c "import torch, torchdiffeq; print('torch', torch.__version__, 'cuda',
torch.version.cuda, 'gpu', torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-',
'torchdiffeq', torchdiffeq.__version__)"
} > "$OUT/env.txt" 2>&1
timeout 90 python3 -m pytest tests/test_cuda.py -o addopts="" -p no:cacheprovider -v -rs \
    > "$OUT/tests.log" 2>&1
echo "tests: exit $?" >> "$OUT/run.log"
for run in "quick 240 --suite quick" "table1 150 --suite scripts/gpu_table1.toml"; do
    set -- $run
    name=$1; limit=$2; shift 2
    start=$(date +%s)
    timeout "$limit" python3 -m odebench.cli run "$@" --device "$DEVICE" --out "/tmp/gpu-$name" \
        --no-report --quiet --threads 4 $MATCH >> "$OUT/run.log" 2>&1
    echo "$name: exit $? in $(( $(date +%s) - start )) s" >> "$OUT/run.log"
    cp "/tmp/gpu-$name/results.csv" "/tmp/gpu-$name/provenance.json" "$OUT/$name/" 2>> "$OUT/run.log"
done
cat "$OUT/run.log"
