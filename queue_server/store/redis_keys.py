"""Every Redis key the hall uses, in one place, each with what it holds and why.

All keys of one hall live under ``hallcall:{<hall id>}:``, so many halls share one
Redis (a city's halls, or a test server) without seeing each other. The braces make
the hall id a Redis Cluster hash tag: every key of a hall lands in one slot, which
is what lets one Lua script touch all of them atomically on a cluster too.

Why one script: the hall's rules run in Python on each process's copy of the state;
the only thing Redis must decide is "does the log still end where this process
thinks it does?". ``commit.lua`` checks :func:`Keys.seq` against the caller's
expected sequence number and, only if it matches, appends the events to the stream
and writes the projections that Python computed from them. A call-next (the claim),
the numbering of a new ticket, a transfer and a requeue are all such commits, so
that one check-and-write is what makes each of them atomic across processes: two
windows on two processes that pick the same ticket both try to commit at the same
sequence number, one wins, the other gets back what it missed and decides again
(a process that keeps losing claims the next turn, :data:`TURN`, so none starves).
"""

from __future__ import annotations

from dataclasses import dataclass

ROOT = "hallcall"

# -- the log ---------------------------------------------------------------------------
SEQ = "seq"  # string: last committed sequence number; the commit script's compare-and-set target
LOG = "log"  # stream: one entry per event, entry ID "<seq>-0", field "e" = the event's JSON record
LOG_DAYS = "log:days"  # hash: day -> first seq of that day in the log; how age-based trimming finds a MINID
TURN = "turn"  # string, 50 ms TTL: a writer that lost races in a row, which commits next (fairness)
CONFIRM = "confirm"  # string: a process's id, written only so that a WAIT after it covers every earlier write

# -- projections (written by the commit script from Python-computed arguments) ----------
META = "meta"  # hash: "day" (current business day), "notice" (JSON), "schema" (layout version)
DAYS = "days"  # sorted set: days that have history, score YYYYMMDD; range queries walk it
TICKETS = "tickets:"  # + day -> hash: ticket id -> ticket JSON (the latest row; defaults omitted)
TOKENS = "tickets:token"  # hash: tracking token -> "<day> <ticket id>"; the citizen's lookup
VISITS = "visits:"  # + day -> hash: "<ticket id>/<leg>" -> visit JSON (one row per visit at a window)
EVALUATIONS = "evals:"  # + day -> hash: ticket id -> evaluation JSON (好差评, one per ticket)
WINDOW_LOG = "winlog:"  # + day -> list: window.* event records in seq order (attendance, 日考勤)
WINDOWS = "windows"  # hash: window number -> window JSON (status, clerk, current ticket)
DOCS = "docs:"  # + kind -> hash: doc id -> doc JSON (later features' records: cases, bookings…)
DOC_DAYS = "docs:days:"  # + kind -> sorted set: doc id, score YYYYMMDD of the doc's day
DOC_KEYS = "docs:key:"  # + kind + ":" + key -> set of doc ids; may hold stale ids, checked on read
DOC_LIVE = "docs:live:"  # + kind -> set of ids of live docs, read back at start-up
DOC_KINDS = "docs:kinds"  # set: every doc kind ever written

# -- people, device tokens, sessions, secrets (plain writes, not part of the log) --------
PEOPLE = "people"  # hash: person id -> person JSON (password hash included; never sent out)
PEOPLE_LOGIN = "people:login"  # hash: login -> person id; may be stale, checked on read
PEOPLE_STAFF = "people:staff"  # hash: staff number -> person id; may be stale, checked on read
DEVICE_TOKENS = "devtokens"  # hash: token id -> device token JSON (only the secret's hash)
DEVICE_HASHES = "devtokens:hash"  # hash: sha256 of the secret -> token id
SESSION = "session:"  # + cookie hash -> session JSON, with a TTL of the session's lifetime
# -- the webhook outbox (store/outbox.py; plain writes and small scripts, not part of the log) --
HOOK_CURSOR = "hooks:cursor"  # hash: endpoint -> last seq taken into its outbox
HOOK_DELIVERIES = "hooks:d:"  # + endpoint -> hash: seq -> delivery JSON (body, status, attempts)
HOOK_SEQS = "hooks:seqs:"  # + endpoint -> sorted set: seq (score seq); the delivery log's order, trimmed to KEEP
HOOK_DUE = "hooks:due"  # sorted set: "<endpoint> <seq>" of pending deliveries, score = unix time due (or lease end)
SECRET = "secret:"  # + name -> a random value made on first use and shared by every process (the privacy salt)

SCHEMA_VERSION = "1"


@dataclass(frozen=True)
class Keys:
    """The concrete key names of one hall."""

    hall_id: str

    @property
    def prefix(self) -> str:
        return f"{ROOT}:{{{self.hall_id}}}:"

    def k(self, name: str) -> str:
        return self.prefix + name

    @property
    def seq(self) -> str:
        return self.k(SEQ)

    @property
    def log(self) -> str:
        return self.k(LOG)

    def tickets(self, day: str) -> str:
        return self.k(TICKETS + day)

    def visits(self, day: str) -> str:
        return self.k(VISITS + day)

    def evaluations(self, day: str) -> str:
        return self.k(EVALUATIONS + day)

    def window_log(self, day: str) -> str:
        return self.k(WINDOW_LOG + day)

    def docs(self, kind: str) -> str:
        return self.k(DOCS + kind)

    def doc_days(self, kind: str) -> str:
        return self.k(DOC_DAYS + kind)

    def doc_key(self, kind: str, key: str) -> str:
        return self.k(f"{DOC_KEYS}{kind}:{key}")

    def doc_live(self, kind: str) -> str:
        return self.k(DOC_LIVE + kind)

    def session(self, hash: str) -> str:
        return self.k(SESSION + hash)


def day_score(day: str) -> int:
    """A day as a sorted-set score: "2026-12-01" -> 20261201 (0 for anything else)."""
    try:
        return int(day.replace("-", ""))
    except ValueError:
        return 0
