"""Rewiring's hook into the recipe toolkit (``espnet2_ext.recipe.plugins``): a config with the
neutral or mixed positive reads each utterance's neutral TTS rendering besides its speech."""

from pathlib import Path
from typing import Any, List, Mapping, Optional

from espnet2_ext.recipe.plugins import Input, Plugin
from espnet2_ext.rewire.tts import SCP_NAME, synthesize_dir

TTS_POSITIVES = ("neutral", "mixed")


def data_inputs(config: Mapping[str, Any], data_dir: Path, training: bool, write: bool) -> Optional[List[Input]]:
    """``wav.scp`` and ``neutral.scp`` (synthesised when ``write``; stage 10 does it for the
    training and validation sets) for a rewiring config whose positive needs TTS; else None."""
    if str(config.get("model")).lower() != "rewire":
        return None
    if (config.get("model_conf") or {}).get("positive", "twin") not in TTS_POSITIVES:
        return None
    scp = synthesize_dir(data_dir) if write else data_dir / SCP_NAME
    return [(str(data_dir / "wav.scp"), "speech", "sound"), (str(scp), "neutral_speech", "sound")]


PLUGIN = Plugin(data_inputs=data_inputs)
