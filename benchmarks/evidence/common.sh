# Shared by the evidence scripts (sourced, not run): the semgen and Python to use, stage
# timing, the machine line, and the steps the parts repeat. Expects `scratch` to be set.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo=$PWD
semgen=${SEMGEN:-$repo/.venv/bin/semgen}
[ -x "$semgen" ] || semgen=semgen
python=${PYTHON:-$repo/.venv/bin/python}
[ -x "$python" ] || python=python3
export SEMGEN_NO_PROGRESS=${SEMGEN_NO_PROGRESS:-1}
t_all=$SECONDS

start() {  # start TIMINGS SIZES: a fresh timings file, then the machine and sizes lines
  timings=$1
  mkdir -p "$(dirname "$timings")"
  : > "$timings"
  echo "== machine: nproc $(nproc --all), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), torch $("$python" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo '?'), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)" >&2
  echo "== cpu flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx|avx2|fma|avx512f|avx512_bf16|avx512_vnni|amx_bf16|amx_tile)$' | tr '\n' ' ')" >&2
  echo "== sizes: $2" >&2
}

stage() {  # stage NAME COMMAND...: run, log the wall time
  local name=$1 t0=$SECONDS; shift
  echo "== $name: $*" >&2
  "$@"
  echo "== $name: $((SECONDS - t0)) s" >&2
  printf '%s\t%s\n' "$name" "$((SECONDS - t0))" >> "$timings"
}

pretrain_four() {  # pretrain_four PATTERNS COHORT OUT MG_EPOCHS MG_CROPS ARGS...: the four methods of the table
  local patterns=$1 cohort=$2 out=$3 mg_epochs=$4 mg_crops=$5 method; shift 5
  for method in semantic-genesis self-classification self-restoration; do
    stage "pretrain $method" "$semgen" pretrain "$patterns" --method "$method" --out "$out/$method" --epochs "$EPOCHS" "$@"
  done
  stage "pretrain models-genesis" "$semgen" pretrain "$cohort" --method models-genesis --out "$out/models-genesis" \
    --epochs "$mg_epochs" --subvolumes-per-scan "$mg_crops" "$@"
}

keep_run() {  # keep_run OUT KEEP: the small files of a fine-tuning run (split.json is rebuilt from its seed)
  rm -rf "$2"; mkdir -p "$2"
  cp -r "$1/summary.json" "$1/trials" "$2/"
}

finish() {  # finish NAME RESULTS [MORE_RUNS...]: compare, keep the timings, say where it all is
  local name=$1 results=$2; shift 2
  # relative paths: the report names its sources from the repo root
  stage compare "$semgen" compare --unpaired "${results#"$repo"/}/runs" "$@" --out "${results#"$repo"/}/report" --overwrite
  cp "$timings" "$results/timings.tsv"
  echo "== $name done in $((SECONDS - t_all)) s: report in $results/report, per-trial JSON in $results/runs" >&2
}
