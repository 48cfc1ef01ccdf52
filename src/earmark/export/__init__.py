"""Export: waveform → logits as ONNX (or TorchScript) with the front-end inside, checked against PyTorch."""

from earmark.export.exporter import FORMATS, ExportReport, export_run
from earmark.export.parity import TOLERANCE, ParityReport, check_parity

__all__ = ["FORMATS", "TOLERANCE", "ExportReport", "ParityReport", "check_parity", "export_run"]
