"""Recipe utilities: the Kaldi/ESPnet helpers that the pip package lacks, as tested Python."""
