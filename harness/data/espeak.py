"""A small ctypes driver for eSpeak NG, as shipped by the ``espeakng-loader`` wheel.

Why ctypes and not a subprocess: the wheel ships the shared library and its data but no
``espeak-ng`` executable.

Why every utterance is synthesised in a forked child: eSpeak keeps synthesis state in C statics
that nothing resets (the pitch-flutter phase, the roughness cycle counter, the automatic gain
control), so the same call gives slightly different samples, even a different length, depending
on everything synthesised before it in the process. The parent process initialises the library
once and never synthesises; each call forks a child from that pristine state, which speaks one
utterance, sends the samples back through a pipe and exits. The same arguments then give the same
bytes in any process, in any order, which is what makes the demo corpus reproducible from its
seed. The breath noise uses ``rand()``, which the child seeds through ``espeak_ng_SetRandSeed``.
Known limit: the voices the parent has loaded are part of the state a child inherits. A process
that first loaded the eight English demo voices gives some ``es-419`` utterances different samples
than a fresh process does (English ones are unaffected); so a build is a function of its arguments
in a fresh process, or in one that has only synthesised the same language before.
Where ``os.fork`` does not exist (Windows), synthesis runs in-process: correct speech, but not
bit-identical between runs.

Text is passed with the ``espeakSSML`` flag. Without it eSpeak reads ``<prosody ...>`` aloud.
"""

from __future__ import annotations

import ctypes
import os
import threading

import numpy as np

from harness.errors import HarnessError

# Constants from espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_SSML = 0x10
_POS_CHARACTER = 1
# espeak_PARAMETER ids and the defaults every utterance starts from.
_PARAMETERS = {1: 175, 2: 100, 3: 50, 4: 50, 5: 0, 7: 0}  # rate, volume, pitch, range, punct, gap

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
_EXIT_NO_VOICE = 3
_EXIT_SYNTH_FAILED = 4

_lock = threading.Lock()
_engines: dict[int, _Engine] = {}


class _Engine:
    """The library initialised in this process, and the sample buffer its callback fills."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise HarnessError(
                "the demo corpus needs eSpeak NG from the 'espeakng-loader' package",
                fix="pip install espeakng-loader",
            ) from exc
        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.data_path = espeakng_loader.get_data_path()
        _declare(self.lib)
        rate = self.lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, self.data_path.encode(), _INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            raise HarnessError(
                f"eSpeak NG failed to initialise with the data in {self.data_path}",
                fix="reinstall espeakng-loader",
            )
        self.sample_rate = int(rate)
        self.chunks: list[bytes] = []
        self.callback = _CALLBACK(self._collect)  # must stay referenced while the library lives
        self.lib.espeak_SetSynthCallback(self.callback)
        self.loaded: set[str] = set()

    def _collect(self, wav, n: int, _events) -> int:
        if wav and n > 0:
            self.chunks.append(ctypes.string_at(wav, 2 * n))
        return 0  # 0 = go on synthesising

    def preload(self, voice: str) -> None:
        """Load a language's dictionary in the parent, so that children only switch variants."""
        language = voice.split("+")[0]
        if language not in self.loaded:
            self.lib.espeak_SetVoiceByName(language.encode())
            self.loaded.add(language)

    def speak(self, text: str, voice: str, ssml: bool, seed: int) -> bytes | int:
        """Synthesise in this process; return PCM16 bytes, or an exit code on failure."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            return _EXIT_NO_VOICE
        for parameter, value in _PARAMETERS.items():
            self.lib.espeak_SetParameter(parameter, value, 0)
        self.lib.espeak_ng_SetRandSeed(seed)
        data = text.encode("utf-8") + b"\0"
        flags = _CHARS_UTF8 | (_SSML if ssml else 0)
        self.chunks = []
        status = self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, flags, None, None)
        self.lib.espeak_Synchronize()
        pcm, self.chunks = b"".join(self.chunks), []
        return _EXIT_SYNTH_FAILED if status != 0 else pcm

    def speak_isolated(self, text: str, voice: str, ssml: bool, seed: int) -> bytes | int:
        """Synthesise in a forked child, so that this process's library state never changes."""
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: speak, hand the bytes over, leave without running any cleanup
            code = 0
            try:
                os.close(read_fd)
                result = self.speak(text, voice, ssml, seed)
                if isinstance(result, int):
                    code = result
                else:
                    view = memoryview(result)
                    while view:
                        view = view[os.write(write_fd, view) :]
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as pipe:
            pcm = pipe.read()
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        return pcm if code == 0 else code


def _declare(lib: ctypes.CDLL) -> None:
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_int]
    lib.espeak_ng_SetRandSeed.restype = None
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Synchronize.argtypes = []
    lib.espeak_Synchronize.restype = ctypes.c_int


def _engine() -> _Engine:
    # Keyed by pid: a process forked from one that had an engine gets its own.
    pid = os.getpid()
    if pid not in _engines:
        _engines[pid] = _Engine()
    return _engines[pid]


def native_rate() -> int:
    """eSpeak's own output rate (22050 Hz for the bundled data)."""
    with _lock:
        return _engine().sample_rate


def synthesize(
    text: str, voice: str = "en-us", *, ssml: bool = True, seed: int = 0
) -> tuple[np.ndarray, int]:
    """Speak ``text`` with ``voice`` (e.g. ``en-us+m3``); return float32 samples and their rate.

    With ``ssml=True`` the text may carry SSML markup (``<speak><prosody ...>``); plain text must
    then have ``&`` and ``<`` escaped (see :func:`ssml_escape`).
    """
    with _lock:
        engine = _engine()
        engine.preload(voice)
        if hasattr(os, "fork"):
            result = engine.speak_isolated(text, voice, ssml, seed)
        else:  # pragma: no cover - Windows
            result = engine.speak(text, voice, ssml, seed)
        rate = engine.sample_rate
    if result == _EXIT_NO_VOICE:
        raise HarnessError(
            f"eSpeak NG has no voice {voice!r}", fix="use e.g. 'en-us+m3' or 'es+f2'"
        )
    if isinstance(result, int):
        raise HarnessError(f"eSpeak NG could not synthesise {text[:60]!r} (exit code {result})")
    audio = np.frombuffer(result, dtype="<i2").astype(np.float32) / 32768.0
    return audio, rate


def ssml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def prosody_ssml(
    text: str, *, pitch: float = 0.0, range_: float = 0.0, rate: float = 0.0, volume: float = 0.0
) -> str:
    """Wrap ``text`` in ``<speak><prosody>``; each argument is a relative change in percent."""
    return (
        f'<speak><prosody pitch="{pitch:+.0f}%" range="{range_:+.0f}%" '
        f'rate="{rate:+.0f}%" volume="{volume:+.0f}%">{ssml_escape(text)}</prosody></speak>'
    )
