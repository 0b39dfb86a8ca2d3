#!/usr/bin/env bash
# One prepared GPU check (device machine): batched local training on CUDA, and the native
# vector env with fl.device=cuda where the project's dependencies are installed.
set -euo pipefail
python -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))"




python benchmarks/bench_fl_gpu.py
if python -c "import gymnasium, networkx, cryptography" 2>/dev/null; then
  PYTHONPATH=. python benchmarks/bench_vec_gpu.py
else
  echo "vector env on CUDA: skipped (gymnasium, networkx or cryptography missing on this machine)"
fi
