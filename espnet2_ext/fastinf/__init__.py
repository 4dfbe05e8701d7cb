"""Fine-tuning strategies for faster inference (Zaiem et al. 2023; espnet2_ext/fastinf/README.md).

``upsample``: r CTC frames per encoder frame; ``early_exit``: exit heads on upper layers, decoding
stops at the first confident one; ``feasibility``: which utterances CTC can no longer align at a
given frame rate; ``macs``: operation counts; ``report``: the RESULTS.md comparison against a
baseline. Waveform downsampling (SD, CL, AV) and layer removal are options of the upstream
(``espnet2_ext.upstream.downsample``, ``espnet2_ext.upstream.layers.keep_first_layers``).
"""
