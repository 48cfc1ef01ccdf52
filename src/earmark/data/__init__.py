"""Data in: scan sources, decode and check, split without leakage, cache, and read windows for training."""
