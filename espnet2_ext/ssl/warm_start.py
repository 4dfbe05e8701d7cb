"""Turn an exported upstream into an ``--init_param`` file for ESPnet's hubert task.

    python -m espnet2_ext.ssl.warm_start exp/hubert_km100_it1/upstream.pth exp/hubert_km100_it2/init.pth

HuBERT trains every iteration from scratch; on a CPU budget of a few thousand updates, iteration
i > 1 instead continues from iteration i - 1's encoder (``ssl_pt.sh --warm_start true``). Only the
encoder is carried over: the new targets get a fresh projection and fresh cluster embeddings.
"""

import argparse
from pathlib import Path
from typing import Dict, Optional, Sequence

import torch

from espnet2_ext.errors import DataError, cli_entry
from espnet2_ext.kaldi_files import replaced_atomically
from espnet2_ext.upstream.checkpoints import ESPNET_HUBERT_PREFIX, EXPORT_FORMAT


def hubert_init_state(upstream: Path) -> Dict[str, torch.Tensor]:
    """The exported upstream's weights under the key names of ESPnet's hubert_train model."""
    payload = torch.load(upstream, map_location="cpu", weights_only=False)
    if not (isinstance(payload, dict) and payload.get("format") == EXPORT_FORMAT):
        raise DataError(f"{upstream}: not an exported upstream (python -m espnet2_ext.ssl.export)")
    return {ESPNET_HUBERT_PREFIX + key: value for key, value in payload["state_dict"].items()}


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("upstream", type=Path, help="exported upstream (.pth)")
    parser.add_argument("out", type=Path, help="state dict for hubert_train --init_param")
    args = parser.parse_args(argv)
    if not args.upstream.is_file():
        raise DataError(f"{args.upstream}: missing; export the previous iteration first")
    state = hubert_init_state(args.upstream)
    with replaced_atomically(args.out) as tmp:
        torch.save(state, tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
