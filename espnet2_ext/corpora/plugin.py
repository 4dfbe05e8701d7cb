"""The SLUE tasks' tables in RESULTS.md (``espnet2_ext.recipe.plugins``): NER and sentiment
scores, written by ``espnet2_ext.corpora.slue_metrics`` (a recipe's ``local/score.sh``)."""

from espnet2_ext.recipe.plugins import Plugin
from espnet2_ext.recipe.results import Headline, Section, percent_columns

PLUGIN = Plugin(sections=(
    Section("NER", "score_ner/result.json", percent_columns(
        ("F1", "f1"), ("label-F1", "label_f1"), ("precision", "precision"), ("recall", "recall")),
        40, Headline("NER F1", "f1", 30)),
    Section("Sentiment", "score_sentiment/result.json", percent_columns(
        ("macro-F1", "macro_f1"), ("macro-recall", "macro_recall"), ("accuracy", "accuracy")),
        50, Headline("macro-F1", "macro_f1", 40)),
))
