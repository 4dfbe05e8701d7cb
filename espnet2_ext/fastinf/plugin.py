"""Fast inference's hooks into the recipe toolkit (``espnet2_ext.recipe.plugins``): the mean exit
layer of early-exit models in their tables, and the comparison against a baseline in RESULTS.md."""

from espnet2_ext.fastinf import report
from espnet2_ext.recipe.plugins import Plugin

PLUGIN = Plugin(decode_values=report.exit_layer_data, add_report_arguments=report.add_arguments,
                report=report.report)
