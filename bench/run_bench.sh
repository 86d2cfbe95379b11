#!/usr/bin/env bash
# sluice vs llama.cpp on the same GGUF, same threads, in the same run. See bench/RESULTS.md.
#
#   bench/run_bench.sh [--peer DIR] [--models DIR] [--threads N] [--cap-gib N] [--mem GIB]
#
# --peer    llama.cpp build (bash ../shared/peer/build.sh DIR builds one; default /tmp/llamacpp-peer)
# --models  where synthetic models are written (default /tmp/sluice-bench-models)
# --cap-gib memory limit for case (b), applied to both engines with a cgroup v1 (default 8)
# --mem     sluice's --mem inside that cap (default: cap minus 1 GiB)
#
# Cases:
#   (a) in RAM: Qwen3-30B-A3B-shaped Q4_K (~17 GB), page cache warm; (a2) its prompt
#       processing on a 508-token prompt against llama-bench's pp512; (a3) prompt and decode
#       of the same shapes in IQ2_XXS (~8 GB), the low-bit formats' case
#   (b) larger than memory: the same file with both processes capped at --cap-gib GiB
#   (c) cold start: time to first token from an empty page cache
# Needs root for the cgroup and for dropping the page cache. Writes bench/results/*.json.
set -euo pipefail
cd "$(dirname "$0")/.."
peer=/tmp/llamacpp-peer/build/bin
models=/tmp/sluice-bench-models
threads=$(nproc)
cap_gib=8
mem_gib=""
while [ $# -gt 0 ]; do
  case $1 in
    --peer) peer=$2/build/bin; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --cap-gib) cap_gib=$2; shift 2 ;;
    --mem) mem_gib=$2; shift 2 ;;
    *) echo "unknown argument $1"; exit 2 ;;
  esac
done
mem_gib=${mem_gib:-$((cap_gib - 1))}
results=bench/results
mkdir -p "$results" "$models"
sluice=build/bin/sluice
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target sluice >/dev/null
model=$models/qwen3-30b-a3b-Q4_K.gguf
[ -f "$model" ] || $sluice synth --preset qwen3-30b-a3b --type Q4_K -o "$model"
prompt="The history of the printing press begins"
n_decode=32
# The peer runs its default CPU path (weights repacked at load where it has kernels for
# that), except on CPUs with AMX: there that path runs ggml_backend_amx_mul_mat, which crashes
# at commit 0c1e570 on this model, so it gets --repack 0 (its plain CPU kernels).
peer_flags=()
if grep -qw amx_int8 /proc/cpuinfo; then peer_flags=(--repack 0); fi
echo "llama.cpp flags: ${peer_flags[*]:-(defaults)}"

drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }
# Runs a command inside a fresh memory cgroup of $cap_gib GiB (page cache included).
capped() {
  local cg=/sys/fs/cgroup/memory/sluice-bench
  mkdir -p $cg
  echo $((cap_gib << 30)) > $cg/memory.limit_in_bytes
  echo 0 > $cg/memory.swappiness 2>/dev/null || true
  bash -c "echo \$\$ > $cg/tasks; exec \"\$@\"" _ "$@"
}
llama_bench_json() {  # prints [pp tok/s, tg tok/s] from llama-bench's JSON
  python3 -c 'import json,sys; r=json.load(sys.stdin); print(" ".join(str(x["avg_ts"]) for x in r))'
}
sluice_json() {
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["prompt_tokens_per_second"], j["decode_tokens_per_second"], j.get("decode_hit_rate"), j.get("bandwidth_ceiling_tokens_per_second"), j.get("peak_rss_bytes"))' "$1"
}

echo "== machine"; lscpu | grep -E "Model name|^CPU\(s\)"; free -g | head -2
echo "model: $model ($(du -h "$model" | cut -f1)), threads $threads"

echo "== (a) in RAM, warm page cache"
cat "$model" > /dev/null
$sluice run -m "$model" -p "$prompt" -n $n_decode --temp 0 -t "$threads" --stats-json $results/a_sluice.json >/dev/null 2>$results/a_sluice.log
echo "sluice  prompt/decode tok/s, hit rate, ceiling, peak RSS: $(sluice_json $results/a_sluice.json)"
# The run above streams: its expert cache fills with O_DIRECT reads as experts are first used,
# which the warm page cache does not serve. With --no-stream every expert is read at load time
# and stays resident, as the peer's weights do.
$sluice run -m "$model" -p "$prompt" -n $n_decode --temp 0 -t "$threads" --no-stream \
  >/dev/null 2>$results/a_resident_sluice.log
echo "sluice --no-stream prompt/decode tok/s: $(sed -n 's/^\(prompt\|decode\): .*(\(.*\) tok\/s)/\2/p' $results/a_resident_sluice.log | xargs)"
if [ -x "$peer/llama-bench" ]; then
  "$peer/llama-bench" -m "$model" -t "$threads" -p 64 -n $n_decode "${peer_flags[@]}" -o json > $results/a_llama.json 2>/dev/null
  echo "llama.cpp pp64 / tg$n_decode tok/s: $(llama_bench_json < $results/a_llama.json)"
fi

echo "== (a2) prompt processing in RAM: a 508-token prompt, experts resident, best of 3"
# Words of a sentence in a fixed shuffle: 508 tokens with the synthetic model's vocabulary.
long_prompt=$(python3 -c 'w="the history of the printing press begins in china where movable type was first made from clay and later from wood and metal before it spread across asia and into europe".split(); print(" ".join(w[(i*7)%len(w)] for i in range(163)))')
best_prompt() {  # prints sluice's best prompt tok/s over 3 runs; arguments: environment settings
  for _ in 1 2 3; do
    env "$@" $sluice run -m "$model" -p "$long_prompt" -n 0 --temp 0 -t "$threads" --no-stream 2>&1 >/dev/null |
      sed -n 's/^prompt: .*(\(.*\) tok\/s)/\1/p'
  done | sort -g | tail -1
}
tiles="AVX-512 VNNI"
if grep -qw amx_int8 /proc/cpuinfo; then tiles="AMX"; fi
echo "sluice  prompt tok/s: $(best_prompt) ($tiles tile kernels), $(best_prompt SLUICE_TILES=0) (row kernels only)"
if [ -x "$peer/llama-bench" ]; then
  "$peer/llama-bench" -m "$model" -t "$threads" -p 512 -n 0 -r 3 "${peer_flags[@]}" -o json > $results/a2_llama.json 2>/dev/null
  echo "llama.cpp pp512 tok/s: $(llama_bench_json < $results/a2_llama.json)"
fi

echo "== (a3) the same shapes in IQ2_XXS: prompt (508 tokens, best of 3) and decode ($n_decode tokens), in RAM"
low_bit=$models/qwen3-30b-a3b-IQ2_XXS.gguf
[ -f "$low_bit" ] || $sluice synth --preset qwen3-30b-a3b --type IQ2_XXS -o "$low_bit"
cat "$low_bit" > /dev/null
low_bit_decode=$($sluice run -m "$low_bit" -p "$prompt" -n $n_decode --temp 0 -t "$threads" --no-stream 2>&1 >/dev/null |
  sed -n 's/^decode: .*(\(.*\) tok\/s)/\1/p')
echo "sluice  prompt tok/s: $(model=$low_bit best_prompt), decode tok/s: $low_bit_decode"
if [ -x "$peer/llama-bench" ]; then
  "$peer/llama-bench" -m "$low_bit" -t "$threads" -p 512 -n $n_decode -r 3 "${peer_flags[@]}" -o json > $results/a3_llama.json 2>/dev/null
  echo "llama.cpp pp512 / tg$n_decode tok/s: $(llama_bench_json < $results/a3_llama.json)"
fi

echo "== (b) capped at ${cap_gib} GiB (sluice --mem ${mem_gib}G), cold page cache"
drop_caches
capped $sluice run -m "$model" -p "$prompt" -n $n_decode --temp 0 -t "$threads" --mem ${mem_gib}G \
  --stats-json $results/b_sluice.json >/dev/null 2>$results/b_sluice.log
echo "sluice  prompt/decode tok/s, hit rate, ceiling, peak RSS: $(sluice_json $results/b_sluice.json)"
if [ -x "$peer/llama-bench" ]; then
  drop_caches
  # Repacked weights are anonymous memory, which the cap cannot page out (the default path is
  # OOM-killed at 8 GiB): under the cap the peer runs from its mmap of the file, --repack 0.
  capped timeout 1800 "$peer/llama-bench" -m "$model" -t "$threads" -p 0 -n 8 -r 1 --repack 0 -o json > $results/b_llama.json 2>/dev/null || true
  echo "llama.cpp tg8 tok/s: $(llama_bench_json < $results/b_llama.json 2>/dev/null || echo failed)"
fi

echo "== (c) cold start: time to first token (load + prompt + 1 token), empty page cache"
drop_caches
start=$(date +%s.%N)
$sluice run -m "$model" -p "$prompt" -n 1 --temp 0 -t "$threads" >/dev/null 2>$results/c_sluice.log
echo "sluice    $(echo "$(date +%s.%N) - $start" | bc) s"
if [ -x "$peer/llama-bench" ]; then  # load + an 8-token prompt + 1 token, one repetition
  drop_caches
  start=$(date +%s.%N)
  timeout 900 "$peer/llama-bench" -m "$model" -t "$threads" -p 8 -n 1 -r 1 "${peer_flags[@]}" >/dev/null 2>$results/c_llama.log || true
  echo "llama.cpp $(echo "$(date +%s.%N) - $start" | bc) s"
fi
