"""Fine-tuning strategies for faster inference (Zaiem et al. 2023, METHODS.md §3).

``downsample``: waveform downsampling before the upstream (SD, CL, AV); ``upsample``: r CTC frames
per encoder frame; ``layers``: removal of the top transformer layers; ``early_exit``: exit heads
on upper layers, decoding stops at the first confident one; ``feasibility``: which utterances CTC
can no longer align at a given frame rate; ``macs``: operation counts.
"""
