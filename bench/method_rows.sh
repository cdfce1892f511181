# bench/method_rows.sh — the training rows of the Fashion-MNIST comparisons, one table for
# bench/ablation.sh and bench/fmnist_compare.sh (sourced): row name -> hpff_pipe --set options.
# Base methods alone sit at modules 0..M-2 (local.cl=off, local.pff=off; InfoPro with its full
# loss and the 1c2f classifier); _cl: the cascade level only; _hilo: both levels; _hpff: both
# levels + PFF (the defaults); _w55 / _w19: free level weights w_I / w_C (ALGORITHM §4.7-1).
# shellcheck disable=SC2034
declare -A ROW_ARGS=(
  [bp]="--set train.method=bp --set local.K=1"
  [dgl_il]="--set train.method=dgl --set local.cl=off --set local.pff=off"
  [dgl_cl]="--set train.method=dgl --set local.il=off --set local.pff=off"
  [dgl_hilo]="--set train.method=dgl --set local.pff=off"
  [dgl_hpff]="--set train.method=dgl"
  [dgl_hpff_w55]="--set train.method=dgl --set local.w_il=0.5 --set local.w_cl=0.5"
  [dgl_hpff_w19]="--set train.method=dgl --set local.w_il=0.1 --set local.w_cl=0.9"
  [infopro]="--set train.method=infopro --set local.cl=off --set local.pff=off --set local.il_loss=full --set local.infopro_aux=1c2f"
  [infopro_hpff]="--set train.method=infopro"
  [predsim]="--set train.method=predsim --set local.cl=off --set local.pff=off"
  [predsim_hpff]="--set train.method=predsim"
)
