"""ESPnet2 extension: fine-tuning strategies for self-supervised speech encoders.

Import :mod:`espnet2_ext.registration` (the task modules and entry points do it) to plug the
project's classes into ESPnet's ClassChoices. Plain utilities (``espnet2_ext.recipe``,
``espnet2_ext.corpora``) import only light espnet2 modules (no task) and start fast.
"""

__version__ = "0.1.0"
