"""earmark: turn a folder of labelled recordings into a trustworthy audio classifier."""

__version__ = "0.1.0"
