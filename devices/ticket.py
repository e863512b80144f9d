"""The printed queue ticket (号票): what goes on it, in ESC/POS bytes.

Pure: a ``TicketContent`` in, bytes out. The layout is kept to about 250 bytes so a
ticket leaves a 9600-baud printer in under 0.3 s (a bilingual one in under 0.5 s).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import escpos
from .escpos import Align

FOOTER = "请留意叫号，过号请重新排队"
FOOTER_EN = "Please listen for your number; if missed, queue again"


@dataclass(frozen=True, slots=True)
class English:
    """The English lines of a bilingual ticket (a hall setting), under their Chinese ones."""

    hall: str = ""
    service: str = ""
    footer: str = FOOTER_EN


@dataclass(frozen=True, slots=True)
class TicketContent:
    hall: str
    number: str
    service: str
    zone: str = ""
    ahead: int | None = None
    eta_minutes: int | None = None
    eta_range: tuple[int, int] | None = None  # an uncertain wait is printed as this span
    issued_at: datetime | None = None
    url: str = ""  # tracking page, printed as a QR code
    footer: str = FOOTER
    barcode: str = ""  # CODE128 when the hall scans tickets at the window
    no_window: bool = False  # no window serving the service is signed in: a warning, not a wait
    opens_at: str = ""  # "14:30": when the hall's next business span starts, if it is between spans
    english: English | None = None
    parts: tuple[str, ...] = ()  # a bundle's (一件事) parts, in the order they are served


def wait_lines(t: TicketContent) -> list[str]:
    """The wait (or the warning that nobody serves yet), each line in Chinese then, on a bilingual ticket, English."""
    if t.ahead is None:
        return []
    pairs = [(f"前面还有{t.ahead}人", f"{t.ahead} ahead of you")]
    if t.no_window:
        pairs.append(("暂无窗口办理" + (f"，{t.opens_at} 起办理" if t.opens_at else ""),
                      "No window serves this now" + (f"; from {t.opens_at}" if t.opens_at else "")))
    elif t.eta_range is not None:
        low, high = t.eta_range
        pairs = [(f"前面还有{t.ahead}人，约等{low}–{high}分钟", f"{t.ahead} ahead of you, about {low}–{high} min")]
    elif t.eta_minutes is not None:
        pairs = [(f"前面还有{t.ahead}人，约等{t.eta_minutes}分钟", f"{t.ahead} ahead of you, about {t.eta_minutes} min")]
    return [line for zh, en in pairs for line in ((zh, en) if t.english else (zh,))]



def _span(value: object) -> tuple[int, int] | None:
    """A print job's ``eta_range`` (``[15, 25]``), or None when absent or malformed."""
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (value[0], value[1])
    return None

def render(t: TicketContent) -> bytes:
    """The whole ticket, from initialization to the cut."""
    parts = [
        escpos.init(),
        escpos.chinese_on(),
        escpos.align(Align.CENTER),
        escpos.size(1, 2),
        escpos.line(t.hall),
        escpos.size(1, 1),
    ]
    if t.english and t.english.hall:
        parts.append(escpos.line(t.english.hall))
    parts.append(escpos.line(" ".join(x for x in (t.zone, t.service) if x)))
    if t.english and t.english.service:
        parts.append(escpos.line(t.english.service))
    parts += [
        escpos.size(4, 4),
        escpos.bold(True),
        escpos.line(t.number),
        escpos.bold(False),
        escpos.size(1, 1),
    ]
    parts += [escpos.line(w) for w in wait_lines(t)]
    if t.parts:
        parts.append(escpos.line("办理环节 " + " ".join(f"{i}.{name}" for i, name in enumerate(t.parts, 1))))
    if t.issued_at is not None:
        parts.append(escpos.line(t.issued_at.strftime("%Y-%m-%d %H:%M")))
    if t.url:
        parts.append(escpos.qr(t.url, module=5))
        parts.append(escpos.LF)
    if t.barcode:
        parts.append(escpos.code128(t.barcode))
        parts.append(escpos.LF)
    if t.footer:
        parts.append(escpos.line(t.footer))
    if t.english and t.english.footer:
        parts.append(escpos.line(t.english.footer))
    parts.append(escpos.cut(3))
    return b"".join(parts)


def from_event(data: dict[str, Any], *, hall: str, names: dict[str, str], base_url: str,
               hall_en: str | None = None) -> TicketContent:
    """Build the ticket for a ``print.requested`` event.

    ``names`` maps service and zone ids to display names (from the hall description),
    and ``service_en:`` ids to English ones; an unknown id is printed as is rather than
    leaving the line empty. ``hall_en`` (the English hall name, "" when it has none)
    makes the ticket bilingual; None prints Chinese only.
    """
    ticket = data.get("ticket") or {}
    issued = ticket.get("issued_at")
    token = ticket.get("token") or ""
    # A bundle (一件事) is printed as itself, with its parts; its ticket may wait in a part's queue.
    bundle = ticket.get("origin_service") if ticket.get("parts") else None
    named = bundle or ticket.get("service")
    service = (None if bundle else ticket.get("service_name")) or names.get(f"service:{named}") or str(named or "")
    zone = names.get(f"zone:{ticket.get('zone')}", "")
    steps = tuple(names.get(f"service:{p.get('service')}") or str(p.get("service")) for p in ticket.get("parts") or ())
    return TicketContent(
        hall=hall,
        number=str(ticket.get("number") or ""),
        service=service,
        zone=zone,
        ahead=data.get("ahead"),
        eta_minutes=data.get("eta_minutes"),
        eta_range=_span(data.get("eta_range")),
        issued_at=datetime.fromisoformat(issued) if issued else None,
        url=f"{base_url.rstrip('/')}/t/{token}" if token and base_url else "",
        no_window=bool(data.get("no_window")),
        opens_at=str(data.get("opens_at") or ""),
        english=None if hall_en is None else English(hall_en, names.get(f"service_en:{named}", "")),
        parts=steps,
    )
