"""Features computed on the device: spectrogram, log-mel, MFCC; normalisation; train-only augmentation."""

from earmark.features.augment import Augment
from earmark.features.frontend import FrontEnd, Normalizer

__all__ = ["Augment", "FrontEnd", "Normalizer"]
