"""Context-aware fine-tuning's hooks into the recipe toolkit (``espnet2_ext.recipe.plugins``):
the neighbour and injected-context data inputs its configs read, and the RESULTS.md section of
its training figures (``diagnostics.report``)."""

from espnet2_ext.context.data import config_stats_suffix, data_inputs
from espnet2_ext.context.diagnostics import report
from espnet2_ext.recipe.plugins import Plugin

PLUGIN = Plugin(data_inputs=data_inputs, stats_suffix=config_stats_suffix, report=report)
