# Shared by the two 3D parts (sourced after common.sh): their model and discovery sizes and
# the hippocampus fine-tuning protocol, so both parts fine-tune exactly alike.
SEED=${SEED:-0}
WIDTH=${WIDTH:-8}               # U-Net base width (published 32)
PATCH=${PATCH:-32x32x16}        # pre-training crop and fine-tuning patch (published 64x64x32)
CLASSES=${CLASSES:-16}          # C, pattern classes (published 3D: 44)
NEIGHBORS=${NEIGHBORS:-16}      # K, training patients per class (published 3D: 200)
VAL_NEIGHBORS=${VAL_NEIGHBORS:-4}
EPOCHS=${EPOCHS:-16}            # pre-training epochs on the pattern set (C*K*3 crops each)
FRACTION=${FRACTION:-0.1}       # share of the training patients whose labels are used
TRIALS=${TRIALS:-5}
FT_EPOCHS=${FT_EPOCHS:-25}      # fine-tuning epochs (early stopping on validation loss)
FT_PATCHES=${FT_PATCHES:-8}     # random training patches per volume per epoch
VAL_PATCHES=${VAL_PATCHES:-2}   # fixed validation patches per volume (the test is predicted whole)
SPLIT_SEED=${SPLIT_SEED:-0}

hippocampus_finetunes() {  # hippocampus_finetunes DATA PRETRAINED RESULTS [ARGS...]: scratch and the four, 3D parts
  # --spacing 1x1x1: the MRI stays at its own 1 mm (a CT checkpoint would otherwise ask for
  # its phantom spacing); the recipe's MR normalisation replaces a checkpoint's CT window
  local data=$1 pretrained=$2 results=$3 init out from; shift 3
  for init in scratch semantic-genesis models-genesis self-classification self-restoration; do
    if [ "$init" = scratch ]; then from=(--init scratch --width "$WIDTH"); else from=(--init "$pretrained/$init"); fi
    out=$scratch/finetune/$init
    stage "finetune $init" "$semgen" finetune "$data" --recipe hippocampus-mri --out "$out" --name "$init" "${from[@]}" \
      "$@" --split-seed "$SPLIT_SEED" --label-fraction "$FRACTION" --trials "$TRIALS" --epochs "$FT_EPOCHS" \
      --patch "$PATCH" --spacing 1x1x1 --patches-per-volume "$FT_PATCHES" --val-patches "$VAL_PATCHES" --seed "$SEED"
    keep_run "$out" "$results/runs/$init"
  done
}
