# The paper-size GPU variant of the real-CT parts (sourced by `ncc.sh --gpu` before realct.sh;
# PREPARED, NOT YET RUN: no GPU was lent when it was written): the published 3D sizes where
# the cohort allows them. Width 32 and 64x64x32 crops as published; C=44 and K=200 asked,
# which discovery clamps to the real cohort (about 9 usable training scans, so K is about 9;
# PHANTOMS=256 would reach K=200 with synthetic patients, at the price of mostly synthetic
# pre-training). The nodule crops stay at 1 mm, so 64x64x32 is 64x64x32 mm around the nodule.
: "${WIDTH:=32}" "${PATCH:=64x64x32}" "${CLASSES:=44}" "${NEIGHBORS:=200}" "${VAL_NEIGHBORS:=30}"
: "${EPOCHS:=200}" "${MG_EPOCHS:=200}" "${MG_CROPS:=64}" "${FT_EPOCHS:=100}" "${FT_PATIENCE:=20}" "${CONVERGED_EPOCHS:=400}"
: "${DEVICE:=cuda}" "${THREADS:=8}" "${PRESET:=paper}"
scratch=${scratch%/}-gpu
export WIDTH PATCH CLASSES NEIGHBORS VAL_NEIGHBORS EPOCHS MG_EPOCHS MG_CROPS FT_EPOCHS FT_PATIENCE CONVERGED_EPOCHS DEVICE THREADS PRESET
