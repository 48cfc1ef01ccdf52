"""Training: the Fabric loop, optimisation, checkpoints, held-out folds and cross-validation."""
