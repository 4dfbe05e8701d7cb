"""Keep espnet2 imports offline: must be imported before any ``espnet2`` module.

``espnet2.tasks.asr`` imports ``g2p_en``, whose import calls ``nltk.download`` for corpora that
are absent, i.e. a network attempt in every (spawned) process. The project never uses g2p, so
downloads are replaced by a no-op that reports failure.
"""

import logging

import nltk

# A module logger: root-level calls before ESPnet configures logging would install a
# WARNING-level default handler and hide the trainer's INFO progress lines.
_LOG = logging.getLogger(__name__)


def _no_download(*args, **kwargs) -> bool:
    _LOG.debug("espnet2_ext: nltk.download%s skipped (offline)", args)
    return False


nltk.download = _no_download
