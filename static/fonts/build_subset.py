"""Rebuild hallcall-cjk.woff2: WenQuanYi Micro Hei cut down to the characters hallcall shows.

Run from the repository root after changing the pages' strings or the sample hall:

    apt-get install fonts-wqy-microhei
    pip install fonttools brotli
    python static/fonts/build_subset.py

The subset holds every character of the language table, the templates and the hall
files, plus the 3,755 common hanzi of GB 2312 level 1 and its symbol rows, so clerk
names and notices typed by managers render too. See README.md beside this file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
OUTPUT = Path(__file__).resolve().parent / "hallcall-cjk.woff2"
TEXT_SOURCES = [
    ROOT / "queue_server" / "web" / "i18n.json",
    *sorted((ROOT / "queue_server" / "web" / "templates").glob("*.html")),
    *sorted((ROOT / "displays" / "templates").glob("*.html")),
    *sorted((ROOT / "queue_server" / "halls").glob("*.toml")),
]
# Must match the @font-face unicode-range in static/css/base.css.
RANGES = [(0x2000, 0x206F), (0x2190, 0x21FF), (0x2200, 0x22FF), (0x25A0, 0x25FF), (0x2600, 0x26FF),
          (0x3000, 0x303F), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0xFF00, 0xFFEF)]


def gb2312(rows: range) -> set[str]:
    out = set()
    for hi in rows:
        for lo in range(0xA1, 0xFF):
            try:
                out.add(bytes([hi, lo]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    return out


def wanted() -> str:
    chars = gb2312(range(0xB0, 0xD8)) | gb2312(range(0xA1, 0xA4))  # level-1 hanzi; symbols, fullwidth forms
    chars |= {"★", "☆", "√", "→", "…", "—", "·"}
    for path in TEXT_SOURCES:
        chars |= set(path.read_text(encoding="utf-8"))
    return "".join(sorted(c for c in chars if any(a <= ord(c) <= b for a, b in RANGES)))


def main() -> int:
    if not SOURCE.exists():
        print(f"{SOURCE} is missing: apt-get install fonts-wqy-microhei", file=sys.stderr)
        return 1
    text = wanted()
    text_file = OUTPUT.with_suffix(".txt")
    text_file.write_text(text, encoding="utf-8")
    try:
        subprocess.run([
            sys.executable, "-m", "fontTools.subset", str(SOURCE), "--font-number=0", f"--text-file={text_file}",
            "--flavor=woff2", f"--output-file={OUTPUT}", "--layout-features=*", "--no-hinting",
            "--name-IDs=*", "--name-languages=*", "--drop-tables+=FFTM",
        ], check=True)
    finally:
        text_file.unlink()
    print(f"{OUTPUT.name}: {len(text)} characters, {OUTPUT.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
