"""How a method package plugs into the generic recipe toolkit, which imports no method.

The stage script and RESULTS.md know ESPnet's stock inputs (``wav.scp,speech,sound``) and metrics
(WER, CER, TER, RTF, MACs). A package that needs more declares one ``Plugin`` under the entry-point
group ``espnet2_ext.recipe`` in ``pyproject.toml`` (its registration line), e.g.::

    [project.entry-points."espnet2_ext.recipe"]
    context = "espnet2_ext.context.plugin:PLUGIN"

and the toolkit asks every plugin, in the order of their names. Each hook is optional.
"""

import argparse
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

if TYPE_CHECKING:
    from espnet2_ext.recipe.results import Section

ENTRY_POINT_GROUP = "espnet2_ext.recipe"
Input = Tuple[str, str, str]  # ESPnet's path,name,type of one data input


@dataclass(frozen=True)
class Plugin:
    """A method's hooks into the stage script (data inputs) and into RESULTS.md."""

    # data_inputs(config, data_dir, training, write): the ESPnet data inputs of the speech side that
    # the effective training config ``config`` reads from the dump dir ``data_dir`` (writing the
    # files first if ``write``), or None when the config is not this method's.
    data_inputs: Optional[Callable[[Mapping[str, Any], Path, bool, bool], Optional[List[Input]]]] = None
    # stats_suffix(config): suffix of the config's stage-10 statistics dir ("" to share the default).
    stats_suffix: Optional[Callable[[Mapping[str, Any]], str]] = None
    # Per-experiment tables read from json files in a decode dir.
    sections: Tuple["Section", ...] = ()
    # decode_values(decode_dir): more values for every table of a decode dir (e.g. from a text file).
    decode_values: Optional[Callable[[Path], Dict[str, Any]]] = None
    # A section of RESULTS.md after the summary: its command-line options, then its lines.
    add_report_arguments: Optional[Callable[[argparse.ArgumentParser], None]] = None
    report: Optional[Callable[[Sequence[Path], Sequence[str], argparse.Namespace, Path], List[str]]] = None


def load_plugins() -> List[Plugin]:
    """Every installed plugin, by entry-point name."""
    entry_points = sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
    plugins = []
    for entry_point in entry_points:
        plugin = entry_point.load()
        if not isinstance(plugin, Plugin):
            raise TypeError(f"entry point {entry_point.name} = {entry_point.value} is not a Plugin")
        plugins.append(plugin)
    return plugins
