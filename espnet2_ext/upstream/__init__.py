"""SSL upstream encoders (waveform CNN + transformer) exposed to ESPnet as frontends."""
