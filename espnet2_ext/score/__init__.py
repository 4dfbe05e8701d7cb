"""SCORE: correspondence fine-tuning of an SSL upstream (Meghanani & Hain 2024)."""
