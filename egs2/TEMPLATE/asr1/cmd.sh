# Job runners, as in ESPnet's cmd.sh. "local" runs jobs as processes on this machine; "slurm"
# submits job arrays with sbatch (options in the recipe's conf/slurm.conf). Recipes link this file;
# choose the backend with the environment: cmd_backend=slurm ./run.sh ...
cmd_backend=${cmd_backend:-local}
case "${cmd_backend}" in
    local) train_cmd="espnet2_ext_run --backend local"
           cuda_cmd="espnet2_ext_run --backend local"
           decode_cmd="espnet2_ext_run --backend local" ;;
    slurm) train_cmd="espnet2_ext_run --backend slurm --config conf/slurm.conf"
           cuda_cmd="espnet2_ext_run --backend slurm --config conf/slurm.conf"
           decode_cmd="espnet2_ext_run --backend slurm --config conf/slurm.conf" ;;
    *) echo "cmd.sh: unknown cmd_backend=${cmd_backend} (local or slurm)" >&2; return 1 ;;
esac
