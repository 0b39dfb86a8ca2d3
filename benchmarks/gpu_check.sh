#!/usr/bin/env bash
# One prepared GPU check (device machine): batched local training on CUDA.
set -euo pipefail
python -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))"




python benchmarks/bench_fl_gpu.py
