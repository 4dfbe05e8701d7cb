"""``score_train``'s ESPnet task: SCORE fine-tuning of an upstream on unlabelled speech.

Input data is speech only (``wav.scp``); the model (``model: score``) makes its own second view
and its own target. The frontend choice is the project's SSL upstream, which is the student.
"""

from espnet2.train.abs_espnet_model import AbsESPnetModel
from espnet2.train.class_choices import ClassChoices

from espnet2_ext.score.model import ScoreModel
from espnet2_ext.ssl.tuning_task import UpstreamTuningTask, frontend_choices

model_choices = ClassChoices(
    "model", classes=dict(score=ScoreModel), type_check=AbsESPnetModel, default="score",
)


class ScoreTask(UpstreamTuningTask):
    """SCORE correspondence fine-tuning (``espnet2_ext.score.model``)."""

    class_choices_list = [frontend_choices, model_choices]
