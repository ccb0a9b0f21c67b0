# Shared by the real-CT parts (sourced after common.sh; ncc.sh, ncs.sh, compute.sh): the
# pre-training cohort (the real CT of ../shared/data: chest-ct-real's 12 series of 10
# patients + chest-ct's 1 scan), its sizes, the four pre-trainings and the LIDC evaluation
# protocol, so that every part fine-tunes exactly alike.
#
# Pre-training data: REAL CT ONLY by default (13 series, 11 patients). Discovery clamps K to
# the usable training scans (about 9 here; the paper used K=200), so self-discovery has few
# patients to choose from; PHANTOMS=N adds N synthetic chest CTs (`semgen phantoms`, preset
# small) to the cohort when discovery should have more patients. The sizes line says which.
# Spacing: cohort and nodule crops both at 1 mm isotropic (the recipe's spacing), so a
# pattern's scale in pre-training is the scale of the nodules it is fine-tuned on.
DATA_ROOT=${DATA_ROOT:-$repo/../shared/data}
SEED=${SEED:-0}
WIDTH=${WIDTH:-8}               # U-Net base width (published 32)
PATCH=${PATCH:-32x32x16}        # pre-training crop and fine-tuning patch at 1 mm (published 64x64x32; the recipe's
                                # 32x32x32 costs 2x: 16 mm along z holds the median box, 11 mm)
SPACING=${SPACING:-1}           # mm, isotropic: the cohort and the nodule crops
CLASSES=${CLASSES:-8}           # C, pattern classes (published 3D: 44)
NEIGHBORS=${NEIGHBORS:-16}      # K, clamped by discovery to the usable training scans (published 3D: 200)
VAL_NEIGHBORS=${VAL_NEIGHBORS:-3}
EPOCHS=${EPOCHS:-40}            # pre-training epochs on the pattern set (C*K*3 crops each)
MG_EPOCHS=${MG_EPOCHS:-40}      # models-genesis epochs on the cohort
MG_CROPS=${MG_CROPS:-16}        # random sub-volumes per scan per epoch for models-genesis
PHANTOMS=${PHANTOMS:-0}         # synthetic chest CTs added to the pre-training cohort (0: real CT only)
THREADS=${THREADS:-2}           # torch threads: part of the result (see README), keep it fixed
JOBS=${JOBS:-1}                 # evaluate processes sharing THREADS (a trial's numbers follow its process's threads)
FRACTIONS=${FRACTIONS:-0.05,0.1,0.25,1}  # label fractions of the training patients
MODES=${MODES:-finetune,probe}
TRIALS=${TRIALS:-5}
FT_EPOCHS=${FT_EPOCHS:-10}      # fine-tuning epoch budget (early stopping on validation loss)
FT_PATIENCE=${FT_PATIENCE:-3}
CONVERGED_EPOCHS=${CONVERGED_EPOCHS:-40}  # converged-scratch control (4x FT_EPOCHS, patience 4x)
SPLIT_SEED=${SPLIT_SEED:-0}
DEVICE=${DEVICE:-cpu}
PRESET=${PRESET:-cpu}          # discovery and pre-training preset (paper on a GPU)
export OMP_NUM_THREADS=$THREADS

realct_sizes() {
  echo "pre-training cohort: chest-ct-real (12 series, 10 patients) + chest-ct (1)$([ "$PHANTOMS" -gt 0 ] && echo " + $PHANTOMS phantoms (small)" || echo ", real CT only"), at $SPACING mm; width $WIDTH, patch $PATCH, discovery C=$CLASSES K=$NEIGHBORS (clamped to the cohort; val $VAL_NEIGHBORS), pre-training $EPOCHS epochs on patterns / $MG_EPOCHS epochs x $MG_CROPS crops per scan for models-genesis, $THREADS threads, device $DEVICE; evaluation on lidc-dev ($JOBS process(es) sharing the threads): label fractions $FRACTIONS, modes $MODES, $TRIALS trials, $FT_EPOCHS epochs (patience $FT_PATIENCE), converged scratch $CONVERGED_EPOCHS epochs, split seed $SPLIT_SEED, seed $SEED"
}

realct_cohort() {  # realct_cohort WORK: WORK/cohort and WORK/patterns (kept: a second part reuses them)
  local work=$1 inputs=("$DATA_ROOT/chest-ct-real" "$DATA_ROOT/chest-ct/chest_ct.nii.gz")
  [ -f "$DATA_ROOT/chest-ct-real/subjects.csv" ] || { echo "$DATA_ROOT/chest-ct-real: absent (real data only on our machines)" >&2; exit 2; }
  if [ "$PHANTOMS" -gt 0 ]; then
    [ -f "$work/phantoms/manifest.csv" ] || stage phantoms "$semgen" phantoms "$work/phantoms" --n "$PHANTOMS" --preset small --seed "$SEED"
    inputs+=("$work/phantoms/images")
  fi
  [ -f "$work/cohort/manifest.csv" ] || stage prepare "$semgen" prepare "${inputs[@]}" --out "$work/cohort" --spacing "$SPACING" --seed "$SEED"
  [ -f "$work/patterns/manifest.csv" ] || stage discover "$semgen" discover "$work/cohort" --out "$work/patterns" --preset "$PRESET" \
    --classes "$CLASSES" --neighbors "$NEIGHBORS" --val-neighbors "$VAL_NEIGHBORS" --patch "$PATCH" --seed "$SEED" --device "$DEVICE"
}

realct_pretrain() {  # realct_pretrain WORK: the four methods in WORK/pretrain/<method> (a finished run is reused)
  local work=$1 method
  for method in semantic-genesis self-classification self-restoration models-genesis; do
    [ -f "$work/pretrain/$method/summary.json" ] && { echo "== pretrain $method: reusing $work/pretrain/$method" >&2; continue; }
    if [ "$method" = models-genesis ]; then
      stage "pretrain $method" "$semgen" pretrain "$work/cohort" --method "$method" --out "$work/pretrain/$method" \
        --epochs "$MG_EPOCHS" --subvolumes-per-scan "$MG_CROPS" --preset "$PRESET" --width "$WIDTH" --patch "$PATCH" \
        --seed "$SEED" --threads "$THREADS" --device "$DEVICE"
    else
      stage "pretrain $method" "$semgen" pretrain "$work/patterns" --method "$method" --out "$work/pretrain/$method" \
        --epochs "$EPOCHS" --preset "$PRESET" --width "$WIDTH" --patch "$PATCH" --seed "$SEED" --threads "$THREADS" --device "$DEVICE"
    fi
  done
}

lidc_evaluate() {  # lidc_evaluate OUT RESULTS ARGS...: semgen evaluate on lidc-dev, the report and per-trial JSON kept in RESULTS
  local out=$1 results=$2; shift 2
  stage evaluate "$semgen" evaluate "$DATA_ROOT/lidc-dev" --out "$out" "$@" --patch "$PATCH" --spacing "${SPACING}x${SPACING}x${SPACING}" \
    --label-fractions "$FRACTIONS" --modes "$MODES" --trials "$TRIALS" --epochs "$FT_EPOCHS" --patience "$FT_PATIENCE" \
    --converged-epochs "$CONVERGED_EPOCHS" --split-seed "$SPLIT_SEED" --seed "$SEED" --device "$DEVICE" --jobs "$JOBS"
  rm -rf "$results"; mkdir -p "$results"
  cp -r "$out/trials" "$out/report.md" "$out/report.json" "$out/efficiency.png" "$out/config.yaml" "$results/"
  cp "$timings" "$results/timings.tsv"
  echo "== report in $results/report.md (regenerate from the committed trials: python -m semgen.finetune.evaluation_report $results)" >&2
}

pretrained_inits() {  # the four pre-trainings as --init arguments
  local work=$1 method
  for method in semantic-genesis models-genesis self-classification self-restoration; do
    printf -- '--init\n%s\n' "$work/pretrain/$method"
  done
}

realct_lidc_part() {  # realct_lidc_part NAME RESULTS ARGS...: cohort, the four pre-trainings, then lidc_evaluate ARGS into RESULTS
  local name=$1 results=$2 inits; shift 2
  mkdir -p "$scratch"
  start "$scratch/timings-$name.tsv" "$(realct_sizes)"
  [ -f "$DATA_ROOT/lidc-dev/labels.csv" ] || { echo "$name: $DATA_ROOT/lidc-dev is absent" >&2; exit 2; }
  realct_cohort "$scratch"
  realct_pretrain "$scratch"
  mapfile -t inits < <(pretrained_inits "$scratch")
  lidc_evaluate "$scratch/evaluate-$name" "$results" "$@" "${inits[@]}"
  echo "== $name done in $((SECONDS - t_all)) s" >&2
}
