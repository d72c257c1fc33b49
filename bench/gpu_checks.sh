#!/usr/bin/env bash
# The paper-scale checks that need a GPU, as one run (the issues' "where a GPU is lent" items):
# the CUDA-graph and static-decoder tests, controller chunk latency (KV cache, CUDA graph)
# and bf16/fp32 training step time for the small and paper configurations, and DextER
# grasps/s for tiny and paper size (static decoder vs the transformers loop). Random weights
# in the published architectures (timing only).
#   bash bench/gpu_checks.sh OUT_DIR        # writes OUT_DIR/*.json and OUT_DIR/log.txt
set -uo pipefail
out="${1:?usage: bench/gpu_checks.sh OUT_DIR}"
mkdir -p "$out"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
py="${PYTHON:-python3}"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  "$py" -c "import torch, transformers, diffusers; print('torch', torch.__version__, 'transformers', transformers.__version__, 'diffusers', diffusers.__version__)"
  "$py" -m pytest -q -p no:cacheprovider tests/controller/test_cuda_graph.py tests/dexter/test_fast_decode.py
  "$py" bench/bench_controller.py --device cuda --dtype bf16 --configs small,paper --repeats 20 \
    --paper-repeats 20 --train-batch 48 --train-steps 10 --episodes 0 --threads 8 \
    --out "$out/controller_cuda_bf16.json"
  "$py" bench/bench_controller.py --device cuda --dtype fp32 --configs small,paper --repeats 10 \
    --paper-repeats 10 --train-batch 48 --train-steps 5 --episodes 0 --threads 8 \
    --out "$out/controller_cuda_fp32.json"
  "$py" bench/bench_dexter.py --device cuda --configs tiny,paper --repeats 3 --paper-repeats 2 \
    --decode-samples 0 --out "$out/dexter_cuda.json"
} 2>&1 | tee "$out/log.txt"
