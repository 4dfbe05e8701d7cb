"""Corpus generators: MiniSLUE (synthetic SLUE-style speech via eSpeak NG) and FSDD connected digits."""
