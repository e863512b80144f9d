"""Audio as data: WAV bytes in and out, splicing, silence, the chime, resampling.

Pure functions over ``Audio`` (a sample rate and an ``array('h')`` of 16-bit mono
samples). No ``wave`` and no ``audioop``: the RIFF reader here also takes the
stereo, 8/24/32-bit and WAVE_FORMAT_EXTENSIBLE files a hall's recordings come in,
and audioop is gone from Python 3.13.
"""

from __future__ import annotations

import math
import struct
import sys
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

# The pipeline's one rate: espeak-ng's native rate, so synthesized speech never resamples.
RATE = 22050

_PCM = 1
_EXTENSIBLE = 0xFFFE
_LITTLE = sys.byteorder == "little"


@dataclass(frozen=True, slots=True)
class Audio:
    """16-bit mono PCM samples at a sample rate."""

    rate: int
    samples: array[int]

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate

    def to_bytes(self) -> bytes:
        """Return the samples as little-endian 16-bit PCM."""
        if _LITTLE:
            return self.samples.tobytes()
        swapped = array("h", self.samples)
        swapped.byteswap()
        return swapped.tobytes()


def samples_from_bytes(data: bytes) -> array[int]:
    """Read little-endian 16-bit PCM bytes into samples."""
    out = array("h")
    out.frombytes(data[: len(data) - len(data) % 2])
    if not _LITTLE:
        out.byteswap()
    return out


def wav_header(rate: int, data_bytes: int) -> bytes:
    """Return the 44-byte header of a 16-bit mono WAV holding ``data_bytes`` of PCM."""
    return b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE" + struct.pack(
        "<4sIHHIIHH4sI", b"fmt ", 16, _PCM, 1, rate, rate * 2, 2, 16, b"data", data_bytes
    )


def write_wav(audio: Audio) -> bytes:
    """Encode audio as a 16-bit mono WAV file."""
    pcm = audio.to_bytes()
    return wav_header(audio.rate, len(pcm)) + pcm


def read_wav(data: bytes) -> Audio:
    """Decode an integer-PCM WAV file of any width and channel count to 16-bit mono."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    fmt: tuple[int, int, int, int] | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = struct.unpack_from("<4sI", data, pos)
        body = data[pos + 8 : pos + 8 + size]
        if chunk_id == b"fmt ":
            if len(body) < 16:
                raise ValueError("WAV fmt chunk is too short")
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
            if tag == _EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack_from("<H", body, 24)[0]
            if tag != _PCM:
                raise ValueError(f"WAV format {tag:#x} is not integer PCM")
            if bits not in (8, 16, 24, 32) or channels < 1 or rate < 1:
                raise ValueError(f"unsupported WAV: {bits}-bit, {channels} channel(s), {rate} Hz")
            fmt = (channels, rate, bits, 0)
        elif chunk_id == b"data":
            if fmt is None:
                raise ValueError("WAV data chunk comes before its fmt chunk")
            channels, rate, bits, _ = fmt
            return Audio(rate, _to_mono16(body, channels, bits // 8))
        pos += 8 + size + (size & 1)  # chunks are word-aligned
    raise ValueError("WAV file has no data chunk")


def _to_mono16(body: bytes, channels: int, width: int) -> array[int]:
    frame = channels * width
    body = body[: len(body) - len(body) % frame]
    if width == 2 and channels == 1:
        return samples_from_bytes(body)
    if width == 1:
        values = [b - 128 << 8 for b in body]  # 8-bit WAV is unsigned
    elif width == 2:
        values = list(samples_from_bytes(body))
    else:
        values = [int.from_bytes(body[i : i + width], "little", signed=True) >> (8 * width - 16) for i in range(0, len(body), width)]
    if channels == 1:
        return array("h", values)
    return array("h", (sum(values[i : i + channels]) // channels for i in range(0, len(values), channels)))


def resample(audio: Audio, rate: int) -> Audio:
    """Resample by linear interpolation; good enough for speech clips of a few seconds."""
    if audio.rate == rate or not audio.samples:
        return Audio(rate, array("h", audio.samples))
    src = audio.samples
    count = max(1, round(len(src) * rate / audio.rate))
    step = audio.rate / rate
    last = len(src) - 1
    out = array("h", bytes(2 * count))
    for i in range(count):
        x = i * step
        j = int(x)
        if j >= last:
            out[i] = src[last]
        else:
            frac = x - j
            out[i] = round(src[j] + (src[j + 1] - src[j]) * frac)
    return Audio(rate, out)


def silence(seconds: float, rate: int = RATE) -> Audio:
    """Return ``seconds`` of silence."""
    return Audio(rate, array("h", bytes(2 * round(seconds * rate))))


def concat(parts: Iterable[Audio], rate: int = RATE) -> Audio:
    """Splice audio end to end, resampling any part that is not at ``rate``."""
    out = array("h")
    for part in parts:
        out.extend(part.samples if part.rate == rate else resample(part, rate).samples)
    return Audio(rate, out)


def trim(audio: Audio, *, threshold: int = 300, pad: float = 0.03) -> Audio:
    """Cut leading and trailing silence, keeping ``pad`` seconds on each side."""
    s = audio.samples
    start = next((i for i, v in enumerate(s) if abs(v) > threshold), None)
    if start is None:
        return Audio(audio.rate, array("h"))
    end = next(i for i in range(len(s) - 1, -1, -1) if abs(s[i]) > threshold)
    margin = round(pad * audio.rate)
    return Audio(audio.rate, s[max(0, start - margin) : min(len(s), end + 1 + margin)])


def rms(audio: Audio) -> float:
    """Root mean square of the samples, 0..32767."""
    if not audio.samples:
        return 0.0
    return math.sqrt(sum(v * v for v in audio.samples) / len(audio.samples))


def chime(rate: int = RATE, *, volume: float = 0.45) -> Audio:
    """Generate the "叮咚" (ding-dong) that opens every announcement.

    Two bell-like strikes a major third apart (E5 then C5), each a few decaying
    partials, so it cuts through a noisy hall without startling anyone.
    """
    ding, dong, tail = 0.42, 0.95, 0.25
    total = round((ding + dong + tail) * rate)
    mix = [0.0] * total
    for start, freq, length in ((0.0, 659.25, ding + dong), (ding, 523.25, dong)):
        offset = round(start * rate)
        for k in range(min(round(length * rate), total - offset)):
            t = k / rate
            env = math.exp(-4.0 * t) * min(1.0, t / 0.004)  # 4 ms attack avoids a click
            value = (
                math.sin(2 * math.pi * freq * t)
                + 0.35 * math.sin(2 * math.pi * 2 * freq * t) * math.exp(-3.0 * t)
                + 0.15 * math.sin(2 * math.pi * 3 * freq * t) * math.exp(-6.0 * t)
            )
            mix[offset + k] += env * value
    peak = max(abs(v) for v in mix) or 1.0
    scale = volume * 32767 / peak
    return Audio(rate, array("h", (round(v * scale) for v in mix)))
