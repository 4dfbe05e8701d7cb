"""ESPnet tasks as used by this project.

Each class is the stock task, re-declared here so that ``--multiprocessing_distributed``
workers (spawned, unpickling ``cls.main_worker`` by module path) import
:mod:`espnet2_ext.registration` and therefore know the project's registered classes.
"""

from espnet2_ext import registration  # noqa: F401  (registers before the tasks are used)

from espnet2.tasks.asr import ASRTask as _ASRTask  # noqa: E402
from espnet2.tasks.cls import CLSTask as _CLSTask  # noqa: E402
from espnet2.tasks.hubert import HubertTask as _HubertTask  # noqa: E402
from espnet2.tasks.slu import SLUTask as _SLUTask  # noqa: E402


class ASRTask(_ASRTask):
    """Speech recognition (CTC/attention); also NER as tagged transcripts."""


class SLUTask(_SLUTask):
    """Spoken language understanding with a transcript (ESPnet's slu1 recipes)."""


class CLSTask(_CLSTask):
    """Utterance classification (sentiment)."""


class HubertTask(_HubertTask):
    """HuBERT masked-prediction pretraining (the project's default upstream)."""
