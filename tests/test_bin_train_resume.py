"""Kill and resume: ESPnet's training program killed with SIGKILL in the middle of an epoch and run
again with the same command resumes from its last epoch checkpoint and ends with the model, bit for
bit, of a run that was never interrupted (on CPU; dropout and batch shuffling included, so the
same command also gives the same model twice)."""

from killed_training import check_killed_run_resumes
from train_tiny import BATCHES_PER_EPOCH, tiny_data, training_options

from espnet2_ext.bin import asr_train


def test_training_killed_mid_epoch_resumes_to_the_uninterrupted_model(tmp_path):
    data = tiny_data(tmp_path)
    check_killed_run_resumes(asr_train.main, lambda output_dir: training_options(tmp_path, data, output_dir),
                             tmp_path, BATCHES_PER_EPOCH)
