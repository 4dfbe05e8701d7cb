"""Self-supervised rewiring (Yang et al. 2022): see README.md."""
