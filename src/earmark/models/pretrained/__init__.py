"""Pretrained backbones: one module per family (panns, efficientat, ...) over the interface in `base`."""
