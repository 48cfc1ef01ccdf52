"""A thin ctypes binding to libespeak-ng from the optional espeakng-loader wheel: text in, int16 out."""

from __future__ import annotations

import ctypes
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from earmark.errors import EarmarkError

MISSING_MESSAGE = "the demo corpus needs espeak-ng: pip install 'earmark[demo]'"

# Constants from espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_ESPEAK_CHARS_UTF8 = 1
_ESPEAK_RATE, _ESPEAK_VOLUME, _ESPEAK_PITCH, _ESPEAK_RANGE = 1, 2, 3, 4
_EE_OK = 0

# int callback(short *wav, int numsamples, espeak_EVENT *events): 0 means "keep going".
_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


def _loader() -> ModuleType:
    """The espeakng-loader module (it only knows paths), or an error saying how to install it."""
    try:
        import espeakng_loader
    except ImportError as error:
        raise EarmarkError(MISSING_MESSAGE) from error
    loader: ModuleType = espeakng_loader
    return loader


def require() -> None:
    """Fail early, with the install hint, when the optional espeak-ng extra is missing."""
    _loader()


def _load_library() -> tuple[ctypes.CDLL, Path]:
    """Load libespeak-ng and find its voice data, both shipped in the espeakng-loader wheel."""
    loader = _loader()
    lib = ctypes.cdll.LoadLibrary(str(loader.get_library_path()))
    return lib, Path(loader.get_data_path())


def _declare(lib: ctypes.CDLL) -> None:
    """Give ctypes the C signatures so wrong arguments fail loudly instead of corrupting the stack."""
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
        ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
    ]  # fmt: skip
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Synchronize.argtypes = []
    lib.espeak_Synchronize.restype = ctypes.c_int
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_ng_SetRandSeed.restype = None


# Measured: the same call gives different samples depending on what this process synthesized before
# (oscillator phase and flutter live in C statics that neither a seed nor re-initialising resets), so
# reproducible audio needs the same sequence of calls in a fresh process; synth.corpus does exactly that.
class Espeak:
    """The process-wide espeak-ng engine; get it with `engine()`, since the C library has global state."""

    def __init__(self) -> None:
        lib, data_path = _load_library()
        _declare(lib)
        sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data_path).encode(), 0)
        if sample_rate <= 0:
            raise EarmarkError(f"espeak-ng failed to start (data in {data_path})")
        self._lib = lib
        self._variants_dir = data_path / "voices" / "!v"
        self._known_variants: set[str] = set()
        self.sample_rate: int = sample_rate
        self._chunks: list[np.ndarray] = []
        # ctypes does not keep the callback alive; if it were collected, C would call freed memory.
        self._callback = _SynthCallback(self._collect)
        lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav: Any, n_samples: int, events: Any) -> int:
        """Receive one chunk of synthesized samples from espeak-ng (a NULL chunk marks the end)."""
        if wav and n_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
        return 0

    def _set(self, parameter: int, value: int) -> None:
        """Set one absolute synthesis parameter."""
        if self._lib.espeak_SetParameter(parameter, int(value), 0) != _EE_OK:
            raise EarmarkError(f"espeak-ng rejected parameter {parameter}={value}")

    def _set_voice(self, voice: str) -> None:
        """Select "language+variant"; an unknown variant is an error here (espeak-ng would ignore it)."""
        _, _, variant = voice.partition("+")
        if variant and variant not in self._known_variants:
            if not (self._variants_dir / variant).is_file():
                raise EarmarkError(f"espeak-ng has no voice variant {variant!r} (see {self._variants_dir})")
            self._known_variants.add(variant)
        if self._lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
            raise EarmarkError(f"espeak-ng has no voice {voice!r}")

    def say(
        self,
        text: str,
        voice: str = "en-us",
        rate_wpm: int = 175,
        pitch: int = 50,
        pitch_range: int = 50,
        volume: int = 100,
        seed: int = 0,
    ) -> np.ndarray:
        """Speak `text` in `voice` ("language+variant", e.g. "en-us+f3") → int16 `[N]` at sample_rate."""
        # espeak-ng's scales: pitch, pitch_range 0–100 around the voice's own (50: as designed); volume 0–200
        self._set_voice(voice)
        self._set(_ESPEAK_RATE, rate_wpm)
        self._set(_ESPEAK_PITCH, pitch)
        self._set(_ESPEAK_RANGE, pitch_range)
        self._set(_ESPEAK_VOLUME, volume)
        # Breathy variants draw noise from a generator espeak-ng seeds from the clock at start-up.
        self._lib.espeak_ng_SetRandSeed(seed)
        encoded = text.encode("utf-8")
        self._chunks = []
        status = self._lib.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8, None, None)
        self._lib.espeak_Synchronize()
        if status != _EE_OK:
            raise EarmarkError(f"espeak-ng failed to speak {text!r} (status {status})")
        samples = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        self._chunks = []
        return samples.astype(np.int16, copy=False)


_ENGINE: Espeak | None = None


def engine() -> Espeak:
    """The one espeak-ng engine of this process, started on first use."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = Espeak()
    return _ENGINE
