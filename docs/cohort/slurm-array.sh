#!/bin/bash
# A cohort submitted by a Slurm job array of 8 tasks.
#
# Slurm gives each task SLURM_ARRAY_TASK_ID, _MIN, _STEP and _COUNT; `--shard auto` reads them,
# so task K submits the batches whose index is K modulo 8. Any task may be killed or requeued:
# a batch already on the platform is never submitted again. The tasks share one machine token
# through Redis.
#
#   export AIGNOSTICS_CLIENT_ID=… AIGNOSTICS_CLIENT_SECRET=… AIGNOSTICS_REDIS_URL=redis://…
#   sbatch --export=ALL slurm-array.sh
#   aignostics cohort status study-17        # from anywhere, any time
#
#SBATCH --job-name=aignostics-cohort
#SBATCH --array=0-7
#SBATCH --cpus-per-task=2
#SBATCH --mem=2G
#SBATCH --time=12:00:00
#SBATCH --requeue
set -euo pipefail

COHORT="${COHORT:-study-17}"
SLIDES="${SLIDES:-/shared/slides/study-17}"
APP="${APP:-he-tme}"
MAPPING="${MAPPING:-.*:staining_method=H&E,tissue=LUNG,disease=LUNG_CANCER}"
BATCH_SIZE="${BATCH_SIZE:-25}"

# Exit 5: the platform refused a run (e.g. a quota); submitting the array again continues.
exec aignostics cohort submit "$COHORT" --slides "$SLIDES" --app "$APP" \
  --mapping "$MAPPING" --batch-size "$BATCH_SIZE" --shard auto
