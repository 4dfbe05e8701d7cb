# Environment for the recipes: sourced by run.sh and the stage script.
MAIN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
if [ -f "${MAIN_ROOT}/.venv/bin/activate" ] && [ -z "${VIRTUAL_ENV:-}" ]; then
    # shellcheck disable=SC1091
    . "${MAIN_ROOT}/.venv/bin/activate"
fi
export PYTHONIOENCODING=UTF-8 LC_ALL=C
# One thread per process, as parallel jobs share the cores (oversubscribed threads slowed
# training many times over); the training stage gives its single CPU process every core (--train_nthreads).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# glibc malloc tuning: avoids page-faulting fresh buffers every batch (espnet2_ext/upstream/README.md,
# § CPU notes).
export MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-33554432}
export MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD_:-4294967296}
export MALLOC_TOP_PAD_=${MALLOC_TOP_PAD_:-1073741824}
