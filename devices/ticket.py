"""The printed queue ticket (号票): what goes on it, in ESC/POS bytes.

Pure: a ``TicketContent`` in, bytes out. The layout is kept to about 250 bytes so a
ticket leaves a 9600-baud printer in under 0.3 s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import escpos
from .escpos import Align

FOOTER = "请留意叫号，过号请重新排队"


@dataclass(frozen=True, slots=True)
class TicketContent:
    hall: str
    number: str
    service: str
    zone: str = ""
    ahead: int | None = None
    eta_minutes: int | None = None
    issued_at: datetime | None = None
    url: str = ""  # tracking page, printed as a QR code
    footer: str = FOOTER
    barcode: str = ""  # CODE128 when the hall scans tickets at the window


def render(t: TicketContent) -> bytes:
    """The whole ticket, from initialization to the cut."""
    parts = [
        escpos.init(),
        escpos.chinese_on(),
        escpos.align(Align.CENTER),
        escpos.size(1, 2),
        escpos.line(t.hall),
        escpos.size(1, 1),
        escpos.line(" ".join(x for x in (t.zone, t.service) if x)),
        escpos.size(4, 4),
        escpos.bold(True),
        escpos.line(t.number),
        escpos.bold(False),
        escpos.size(1, 1),
    ]
    if t.ahead is not None:
        wait = f"前面还有{t.ahead}人"
        if t.eta_minutes is not None:
            wait += f"，约等{t.eta_minutes}分钟"
        parts.append(escpos.line(wait))
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
    parts.append(escpos.cut(3))
    return b"".join(parts)


def from_event(data: dict[str, Any], *, hall: str, names: dict[str, str], base_url: str) -> TicketContent:
    """Build the ticket for a ``print.requested`` event.

    ``names`` maps service and zone ids to display names (from the hall description);
    an unknown id is printed as is rather than leaving the line empty.
    """
    ticket = data.get("ticket") or {}
    issued = ticket.get("issued_at")
    token = ticket.get("token") or ""
    service = ticket.get("service_name") or names.get(f"service:{ticket.get('service')}") or str(ticket.get("service") or "")
    zone = names.get(f"zone:{ticket.get('zone')}", "")
    return TicketContent(
        hall=hall,
        number=str(ticket.get("number") or ""),
        service=service,
        zone=zone,
        ahead=data.get("ahead"),
        eta_minutes=data.get("eta_minutes"),
        issued_at=datetime.fromisoformat(issued) if issued else None,
        url=f"{base_url.rstrip('/')}/t/{token}" if token and base_url else "",
    )
