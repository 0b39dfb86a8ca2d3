#!/usr/bin/env bash
# One prepared GPU check (device machine): batched local training on CUDA.
set -euo pipefail
pip install -q --no-deps -e . >/dev/null 2>&1 || true
python -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))"
echo "--- MLP (64-32-10), digits 8x8, K vehicles, 1 epoch, batch 10"
python benchmarks/bench_fl.py --device cuda --ks 10,1000,10000 --no-sequential --repeats 7
echo "--- LeNet-style CNN, 1x28x28, K=1000"
python benchmarks/bench_fl.py --device cuda --model cnn --image28 --ks 100,1000 --no-sequential --repeats 7
