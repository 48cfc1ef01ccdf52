"""The embedded spoken-digit corpus; espeak-ng (GPL-3.0, optional extra) is loaded only when synthesizing."""

from __future__ import annotations

from earmark.synth.corpus import VOICE_POOL, CorpusSummary, synthesize_corpus

__all__ = ["VOICE_POOL", "CorpusSummary", "synthesize_corpus"]
