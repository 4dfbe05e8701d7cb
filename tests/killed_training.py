"""ESPnet's ASR training program, killed with SIGKILL right after a given number of updates (as an
out-of-memory kill or a preempted job would be): ``python killed_training.py N <asr_train options>``.
Run as a subprocess by test_bin_train_resume."""

import os
import signal
import sys

from torch.optim.optimizer import register_optimizer_step_post_hook

from espnet2_ext.bin import asr_train


def main() -> None:
    kill_after, argv = int(sys.argv[1]), sys.argv[2:]
    updates = 0

    def count(*_) -> None:
        nonlocal updates
        updates += 1
        if updates == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    register_optimizer_step_post_hook(count)
    asr_train.main(argv)


if __name__ == "__main__":
    main()
