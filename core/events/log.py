"""`EventLog`: a run's append-only event file `<run_dir>/events.jsonl`, one JSON object a line
(`seq` 1, 2, 3 ... without gaps, `time`, `type`, payload), and the reader the ingester uses.
Must not import gradio, studio, torch or the history (it is written where no database is).
"""

from __future__ import annotations

import json
import os
import threading
import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EVENTS_FILE = "events.jsonl"
# The kinds of records a run writes; `core.events.ingest` applies each.
EVENT_TYPES = ("status", "heartbeat", "progress", "metrics", "sample", "artifact", "config", "eval", "truncate")


@dataclass(frozen=True)
class Event:
    """One line of the log: its number in the run, when it was written, its type and payload."""

    seq: int
    time: float
    type: str
    payload: dict[str, Any] = field(default_factory=dict)

    def line(self) -> bytes:
        record = {"seq": self.seq, "time": self.time, "type": self.type, **self.payload}
        return (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")


@dataclass
class ReadResult:
    """Events read after a seq; the byte offset just past the last whole line read (where to read
    on) and that line's seq (0 when none)."""

    events: list[Event]
    offset: int
    last_seq: int = 0


class EventLog:
    """Appends events to one run's log. One instance per process (threads share it: a lock keeps
    seq and the file in step). Each `append` / `append_many` is ONE write() of whole lines, then
    flush and fsync, so a batch is on disk before it returns. On open, a torn last line (the
    process died mid-write) is cut off and its seq is written again by the next append; the
    counter resumes after the last whole line, so a resumed run continues its numbering. That
    recovery happens at the first append, never on opening: a process that only reads (another
    rank under accelerate launch) must not cut a line the writer is still writing."""

    def __init__(self, run_dir: str | os.PathLike):
        self.path = Path(run_dir) / EVENTS_FILE
        self._lock = threading.Lock()
        self._seq: int | None = None

    @property
    def seq(self) -> int:
        """The last seq written (0 for a new log)."""
        with self._lock:
            return self._last_seq()

    def _last_seq(self) -> int:
        if self._seq is None:
            self._seq = self._recover()
        return self._seq

    def _recover(self) -> int:
        """The last whole line's seq (0 for a new log); a torn tail is truncated away."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return 0
        result = parse(data, after_seq=0)
        if result.offset < len(data):
            with open(self.path, "r+b") as f:
                f.truncate(result.offset)
                os.fsync(f.fileno())
        return result.events[-1].seq if result.events else 0

    def append(self, type: str, **payload: Any) -> Event:
        """Write one event now (durable when this returns); returns it."""
        return self.append_many([(type, payload)])[0]

    def append_many(self, records: list[tuple[str, dict[str, Any]]]) -> list[Event]:
        """Write several events as one batch: one write(), one fsync; returns them."""
        if not records:
            return []
        for type, _ in records:
            if type not in EVENT_TYPES:
                raise ValueError(f"event type {type!r} is not one of {', '.join(EVENT_TYPES)}")
        with self._lock:
            now, last = _time.time(), self._last_seq()
            events = [Event(last + i + 1, now, type, payload) for i, (type, payload) in enumerate(records)]
            data = b"".join(event.line() for event in events)
            with open(self.path, "ab") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            self._seq = events[-1].seq
        return events


def parse(data: bytes, after_seq: int, start_seq: int | None = None) -> ReadResult:
    """The events of `data` (whole log lines) with seq > after_seq, in order, stopping at the
    first line that is not whole (no newline yet: being written, or torn) or not valid, or whose
    seq is not the next one. `offset` is just past the last whole line read."""
    events, offset, expected, last = [], 0, start_seq, 0
    while True:
        end = data.find(b"\n", offset)
        if end < 0:
            break
        try:
            record = json.loads(data[offset:end])
            seq, when, type = int(record.pop("seq")), float(record.pop("time")), str(record.pop("type"))
        except (ValueError, KeyError, TypeError, AttributeError):
            break  # a torn line rewritten later; nothing after it is trusted
        if expected is not None and seq != expected:
            break
        expected, last = seq + 1, seq
        offset = end + 1
        if seq > after_seq:
            events.append(Event(seq, when, type, record))
    return ReadResult(events, offset, last)


def read_events(path: str | os.PathLike, after_seq: int, offset: int = 0, offset_seq: int = 0) -> ReadResult:
    """Events of the log at `path` with seq > after_seq. Given `offset` (bytes) where the line of
    seq `offset_seq` + 1 starts (from an earlier read), only the rest of the file is read; the
    offset is trusted only if that line is there, else the whole file is read again."""
    try:
        with open(path, "rb") as f:
            if offset and offset_seq <= after_seq:
                f.seek(offset)
                tail = parse(f.read(), after_seq, start_seq=offset_seq + 1)
                if tail.offset > 0:
                    return ReadResult(tail.events, offset + tail.offset, tail.last_seq)
                if _at_end(f, offset):
                    return ReadResult([], offset, offset_seq)
                f.seek(0)
            return parse(f.read(), after_seq, start_seq=None)
    except FileNotFoundError:
        return ReadResult([], 0)


def _at_end(f, offset: int) -> bool:
    """Whether `offset` is the file's end or lies inside an unfinished last line (nothing new)."""
    f.seek(offset)
    return b"\n" not in f.read()
