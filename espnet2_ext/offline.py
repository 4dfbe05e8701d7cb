"""Keep espnet2 imports offline: must be imported before any ``espnet2`` module.

``espnet2.tasks.asr`` imports ``g2p_en``, whose import calls ``nltk.download`` for corpora that
are absent, i.e. a network attempt in every (spawned) process. The project never uses g2p, so
downloads are replaced by a no-op that reports failure.
"""

import logging

import nltk


def _no_download(*args, **kwargs) -> bool:
    logging.debug("espnet2_ext: nltk.download%s skipped (offline)", args)
    return False


nltk.download = _no_download
