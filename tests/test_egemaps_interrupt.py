"""Ctrl-C during eGeMAPS extraction stops the run; a NaN feature row is an error naming the file.

openSMILE calls back into Python through ctypes, where a KeyboardInterrupt is printed as
"Exception ignored" and lost. The fake ``process_signal`` below reproduces that faithfully: it
delivers SIGINT to the process from inside a real ctypes callback (libc's ``qsort`` comparing two
ints), then returns the all-NaN row openSMILE returns for an interrupted utterance.
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.cache import Cache
from harness.data.audio import write_audio
from harness.errors import HarnessError

opensmile = pytest.importorskip("opensmile")
# The swallowed KeyboardInterrupt is, by design, an "unraisable" exception inside the callback.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

from systems.audio_egemaps import AudioEgemaps, extract_egemaps  # noqa: E402

_CMP = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


def call_through_ctypes(callback) -> None:
    """Run ``callback`` from C, as openSMILE runs its sink callback (exceptions are swallowed)."""

    @_CMP
    def compare(a, b):
        callback()
        return 0

    array = (ctypes.c_int * 2)(1, 2)
    ctypes.CDLL(None).qsort(array, 2, ctypes.sizeof(ctypes.c_int), compare)


def _sigint_self() -> None:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.05)  # the Python-level handler runs here, inside the callback


def test_the_fake_really_swallows_a_default_keyboardinterrupt():
    """Without the harness guard, the interrupt is lost: this is the bug being fixed."""
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    call_through_ctypes(_sigint_self)  # returns normally: KeyboardInterrupt was swallowed


def _frame(root: Path, n: int) -> pd.DataFrame:
    rows = []
    for i in range(n):
        path = root / f"u{i:03d}.wav"
        write_audio(path, (0.05 * np.sin(np.arange(800 + 10 * i) / 7.0)).astype(np.float32))
        rows.append({"id": f"u{i:03d}", "path": str(path)})
    return pd.DataFrame(rows)


class FakeSmile:
    """Patch for ``opensmile.Smile.process_signal``: finite rows, an interrupt or NaN on cue."""

    def __init__(self, interrupt_at: int | None = None, nan_at: int | None = None) -> None:
        self.interrupt_at, self.nan_at = interrupt_at, nan_at
        self.calls = 0

    def __call__(self, smile, audio, sampling_rate):
        self.calls += 1
        row = np.full((1, 88), float(np.abs(audio).mean()) + self.calls)
        if self.calls == self.interrupt_at:
            call_through_ctypes(_sigint_self)
            row[:] = np.nan  # what openSMILE returns for the interrupted utterance
        if self.calls == self.nan_at:
            row[0, 5] = np.nan
        return pd.DataFrame(row)


def _patch(monkeypatch, fake: FakeSmile) -> FakeSmile:
    def process_signal(smile, audio, sampling_rate):
        return fake(smile, audio, sampling_rate)

    monkeypatch.setattr(opensmile.Smile, "process_signal", process_signal)
    return fake


def _system(cache_dir: Path | None, n_jobs: int = 1) -> AudioEgemaps:
    system = AudioEgemaps(C=1.0, alpha=10.0, class_weight=None, clip=10.0, n_jobs=n_jobs, seed=0)
    system.use_workspace(work_dir=None, cache_dir=cache_dir)
    return system


def test_interrupt_inside_opensmile_reaches_the_caller(tmp_path, monkeypatch):
    fake = _patch(monkeypatch, FakeSmile(interrupt_at=3))
    with pytest.raises(KeyboardInterrupt):
        extract_egemaps(_frame(tmp_path, 6))
    assert fake.calls == 3  # stopped right after the interrupted utterance
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def test_interrupt_caches_no_features_and_a_rerun_computes_them_all(tmp_path, monkeypatch):
    frame = _frame(tmp_path / "audio", 6)
    cache = tmp_path / "cache"
    _patch(monkeypatch, FakeSmile(interrupt_at=4))
    with pytest.raises(KeyboardInterrupt):
        _system(cache)._features(frame)
    assert not list(cache.rglob("*.npz"))

    fake = _patch(monkeypatch, FakeSmile())
    values = _system(cache)._features(frame)
    assert fake.calls == 6 and np.isfinite(values).all() and (values != 0).all()
    assert len(list(cache.rglob("*.npz"))) == 1


def test_worker_interrupt_propagates_from_the_process_pool(tmp_path, monkeypatch):
    """n_jobs=2 forks workers (they inherit the patch); a worker's swallowed Ctrl-C stops all."""
    frame = _frame(tmp_path / "audio", 70)
    cache = tmp_path / "cache"
    _patch(monkeypatch, FakeSmile(interrupt_at=5))  # the 5th utterance of each worker
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        _system(cache, n_jobs=2)._features(frame)
    assert time.monotonic() - started < 60
    assert not list(cache.rglob("*.npz"))


def test_cache_never_stores_rows_computed_during_a_swallowed_interrupt(tmp_path):
    """The cache's own guard: any compute whose Ctrl-C was lost in native code is not stored."""
    calls = []

    def compute(ids):
        calls.append(list(ids))
        call_through_ctypes(_sigint_self)
        return np.zeros((len(ids), 3), dtype=np.float32)

    with pytest.raises(KeyboardInterrupt):
        Cache(tmp_path).features("probe", ["a", "b"], {"v": 1}, compute)
    assert calls == [["a", "b"]]
    assert not list(tmp_path.rglob("*.npz"))


def test_a_nan_feature_row_is_an_error_naming_the_file(tmp_path, monkeypatch):
    frame = _frame(tmp_path / "audio", 5)
    cache = tmp_path / "cache"
    _patch(monkeypatch, FakeSmile(nan_at=3))
    with pytest.raises(HarnessError) as caught:
        _system(cache)._features(frame)
    assert caught.value.file == frame["path"].iloc[2]
    assert caught.value.fix and "NaN" in str(caught.value)
    assert not list(cache.rglob("*.npz"))


def test_cache_rejects_non_finite_rows(tmp_path):
    def compute(ids):
        return np.array([[1.0, 2.0], [np.inf, 0.0]])

    with pytest.raises(HarnessError, match="b"):
        Cache(tmp_path).features("probe", ["a", "b"], {"v": 1}, compute)
    assert not list(tmp_path.rglob("*.npz"))


def test_real_opensmile_interrupted_by_a_signal(tmp_path, monkeypatch):
    """The real library: SIGINT arrives while openSMILE processes 20 s of noise."""
    path = tmp_path / "long.wav"
    write_audio(path, (0.1 * np.random.default_rng(0).standard_normal(20 * 16_000)).astype("f4"))
    real = opensmile.Smile.process_signal

    def timed(smile, audio, sampling_rate):
        timer = threading.Timer(0.05, lambda: os.kill(os.getpid(), signal.SIGINT))
        timer.start()
        try:
            return real(smile, audio, sampling_rate)
        finally:
            # An idle machine processes the 20 s in about 0.2 s, so the library can return
            # before the timer fires. The signal must still land inside this call: fired later,
            # it would interrupt whatever pytest runs next and abort the whole suite.
            timer.join()

    monkeypatch.setattr(opensmile.Smile, "process_signal", timed)
    with pytest.raises(KeyboardInterrupt):
        extract_egemaps(pd.DataFrame({"id": ["long"], "path": [str(path)]}))


@pytest.mark.slow
def test_interrupted_run_caches_no_member_and_hides_the_run(tmp_path, monkeypatch):
    from harness.config import resolve
    from harness.runner import run

    _patch(monkeypatch, FakeSmile(interrupt_at=20))
    config = resolve(
        {
            "system": "audio_egemaps",
            "demo.n": 80,
            "cache_dir": str(tmp_path / "cache"),
            "output_dir": str(tmp_path / "runs"),
            "bootstrap": 50,
            "progress": False,
            "asr": "none",
        }
    )
    with pytest.raises(KeyboardInterrupt):
        run(config)
    members = tmp_path / "cache" / "members"
    assert not [p for p in members.glob("*") if not p.name.endswith(".work")]
    assert not list((tmp_path / "cache").rglob("*.npz"))
    runs = tmp_path / "runs"
    assert not [p for p in runs.glob("*") if not p.name.startswith(".")]
    assert not list(runs.glob("**/metrics.json"))
