"""The pyttsx3 worker process: owns one espeak-ng engine, speaks phrases into WAV files.

Run as ``python -m voice.tts_worker`` by ``voice.engines.Pyttsx3Engine``; it reads one
JSON request per line on stdin and answers one JSON line on its stdout.

Why a process of its own: pyttsx3 must be created and run in one thread, and its
espeak driver keeps process-wide state (espeak-ng is initialised once per process
and takes one global synthesis callback), so two engines in one process would
steal each other's audio. A process also keeps a crash in libespeak-ng away from
the hall's agent, which simply starts a new worker.

Requests:
    {"op": "init", "voices": {"zh": "cmn-latn-pinyin", "en": "en-us"}, "rate": 150}
    {"op": "say", "language": "zh", "text": "…", "path": "/tmp/…/1.wav"}
Answers: {"ok": true, …} or {"ok": false, "error": "…"}.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import sys
import threading
import time
from typing import Any, TextIO

# espeak-ng synthesizes far faster than real time; a phrase that takes this long is stuck.
UTTERANCE_TIMEOUT = 10.0
RETRIES = 3
# Voice ids worth suggesting when the configured one is missing.
_HINTS = {"zh": ("cmn", "yue", "zh"), "en": ("en",)}


class Worker:
    def __init__(self) -> None:
        import pyttsx3  # imported here so the parent never loads libespeak-ng itself

        self.engine = pyttsx3.init("espeak")
        self.finished = threading.Event()
        self.errors: list[str] = []
        # The espeak driver calls back from libespeak-ng's own thread once it has written the file.
        self.engine.connect("finished-utterance", self._on_finished)
        self.engine.connect("error", self._on_error)
        self.voices: dict[str, str] = {}
        self.rate = 150
        self.retries = 0  # utterances said again for the last request
        self._voice: str | None = None  # what libespeak-ng is set to now
        self._rate: int | None = None
        # One empty run leaves the driver idle, so later property changes apply at once
        # instead of waiting in its queue until the next run.
        self.engine.runAndWait()

    def _on_finished(self, name: Any = None, completed: bool = True) -> None:
        # The driver also reports completed=False when its loop starts by cancelling
        # leftovers; the utterance itself goes on and reports completed=True.
        if completed:
            self.finished.set()

    def _on_error(self, name: Any = None, exception: BaseException | None = None) -> None:
        self.errors.append(str(exception))

    def init(self, voices: dict[str, str], rate: int) -> dict[str, Any]:
        installed = {v.id.lower(): v for v in self.engine.getProperty("voices")}
        resolved: dict[str, str] = {}
        for language, wanted in voices.items():
            key = wanted.lower()
            match = next((vid for vid in installed if vid == key or vid.rsplit("/", 1)[-1] == key), None)
            if match is None:
                hints = _HINTS.get(language, (key[:2],))
                near = sorted(vid.rsplit("/", 1)[-1] for vid in installed if any(h in vid.rsplit("/", 1)[-1] for h in hints))
                raise LookupError(
                    f"espeak-ng voice {wanted!r} (for {language}) is not installed; "
                    f"install espeak-ng-data or pick one of: {', '.join(near) or 'none'}"
                )
            resolved[language] = match
        self.voices = resolved
        self.rate = rate
        # Speak once per voice: espeak-ng falls back to another voice without a word when
        # it cannot load one, and we would rather fail now than be silent later.
        scratch = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"hallcall-tts-{os.getpid()}.wav")
        try:
            for language, voice in resolved.items():
                self.say(language, "一" if language == "zh" else "one", scratch)
                current = (self.engine.getProperty("voice") or "").lower()
                if current != voice:
                    raise LookupError(f"espeak-ng could not load voice {voice!r} (got {current!r})")
        finally:
            if os.path.exists(scratch):
                os.unlink(scratch)
        return {"voices": resolved}

    def say(self, language: str, text: str, path: str) -> int:
        voice = self.voices.get(language)
        if voice is None:
            raise LookupError(f"no voice for language {language!r}; initialised: {sorted(self.voices)}")
        # A message libespeak-ng cancelled ends without a sample; _configure keeps that
        # from happening, and should it happen anyway, saying it again works.
        for attempt in range(RETRIES + 1):
            frames = self._say_once(voice, text, path)
            if frames:
                self.retries = attempt
                return frames
        raise RuntimeError(f"espeak-ng produced no audio for {text!r}")

    def _say_once(self, voice: str, text: str, path: str) -> int:
        self.errors.clear()
        self.finished.clear()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self._configure(voice)
        self.engine.save_to_file(text, path)
        # runAndWait() may return as soon as synthesis has *started* (the driver's loop
        # can end before libespeak-ng calls back), so wait for the utterance itself.
        self.engine.runAndWait()
        if not self.finished.wait(UTTERANCE_TIMEOUT):
            raise TimeoutError(f"espeak-ng did not finish {text!r} within {UTTERANCE_TIMEOUT:.0f} s")
        if self.errors:
            raise RuntimeError("; ".join(self.errors))
        frames = _wait_complete(path, time.monotonic() + 5.0)
        _wait_idle(time.monotonic() + 2.0)
        return frames

    def _configure(self, voice: str) -> None:
        # libespeak-ng queues a parameter change like a message, and the driver cancels
        # whatever is still queued when its loop starts (cutting the change, or the next
        # utterance, short). So change only what differs and let it settle first.
        if voice != self._voice:
            self.engine.setProperty("voice", voice.rsplit("/", 1)[-1])
            self._voice = voice
        if self.rate != self._rate:
            self.engine.setProperty("rate", self.rate)
            self._rate = self.rate
        _wait_idle(time.monotonic() + 2.0)


def _wait_idle(deadline: float) -> None:
    """Wait until libespeak-ng has nothing in flight (best effort: a private pyttsx3 module)."""
    try:
        from pyttsx3.drivers import _espeak
    except ImportError:
        return
    while _espeak.IsPlaying() and time.monotonic() < deadline:
        time.sleep(0.002)


def _wait_complete(path: str, deadline: float) -> int:
    """Wait until ``path`` is a whole 16-bit WAV; return its frame count."""
    while True:
        try:
            with open(path, "rb") as f:
                head = f.read(44)
                size = os.fstat(f.fileno()).st_size
            if len(head) == 44 and head[:4] == b"RIFF" and head[36:40] == b"data":
                data_bytes: int = struct.unpack_from("<I", head, 40)[0]
                if size >= 44 + data_bytes:
                    return data_bytes // 2
        except FileNotFoundError:
            pass
        if time.monotonic() > deadline:
            state = f"{os.path.getsize(path)} bytes" if os.path.exists(path) else "missing"
            raise RuntimeError(f"{path} was not written completely ({state})")
        time.sleep(0.005)


def serve(requests: TextIO, answers: TextIO) -> None:
    """Answer requests until stdin closes."""
    worker: Worker | None = None
    for line in requests:
        if not line.strip():
            continue
        req: Any = None
        try:
            req = json.loads(line)
            op = req.get("op")
            if op == "init":
                worker = worker or Worker()
                reply: dict[str, Any] = {"ok": True, **worker.init(req["voices"], int(req.get("rate", 150)))}
            elif op == "say":
                if worker is None:
                    raise RuntimeError("say before init")
                frames = worker.say(req["language"], req["text"], req["path"])
                reply = {"ok": True, "frames": frames, "retries": worker.retries}
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception as exc:  # every failure goes back to the parent, which decides
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        if isinstance(req, dict) and "id" in req:
            reply["id"] = req["id"]
        answers.write(json.dumps(reply, ensure_ascii=False) + "\n")
        answers.flush()


def main() -> None:
    """Run the worker on stdin/stdout."""
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    # pyttsx3's espeak driver prints "Audio saved to …" for every file; keep that
    # (and anything else printed) off the answer channel.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = open(1, "w", closefd=False)
    serve(sys.stdin, answers)


if __name__ == "__main__":
    main()
