"""core.events.log: seq without gaps, resumed on reopen; a torn last line is ignored by the reader
and rewritten by the next append; reads from an offset see only what is new."""

from __future__ import annotations

import json
import threading

import pytest

from core.events.log import EventLog, parse, read_events


def test_seq_counts_from_one_and_resumes_on_reopen(tmp_path):
    log = EventLog(tmp_path)
    assert [e.seq for e in log.append_many([("progress", {"step": 1}), ("progress", {"step": 2})])] == [1, 2]
    assert log.append("heartbeat", step=2).seq == 3
    again = EventLog(tmp_path)  # a resumed run continues its numbering
    assert again.seq == 3 and again.append("progress", step=3).seq == 4
    lines = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [line["seq"] for line in lines] == [1, 2, 3, 4]
    assert lines[0]["type"] == "progress" and lines[0]["step"] == 1 and isinstance(lines[0]["time"], float)


def test_unknown_type_is_refused(tmp_path):
    with pytest.raises(ValueError, match="event type 'oops'"):
        EventLog(tmp_path).append("oops")


def test_torn_last_line_is_ignored_then_rewritten_by_the_next_seq(tmp_path):
    log = EventLog(tmp_path)
    log.append("progress", step=1)
    log.append("progress", step=2)
    path = tmp_path / "events.jsonl"
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"seq":3,"time":1.0,"type":"prog')  # the process died mid-write
    read = read_events(path, 0)
    assert [e.seq for e in read.events] == [1, 2] and read.offset == len(whole)
    reopened = EventLog(tmp_path)
    assert reopened.seq == 2 and path.read_bytes() == whole  # the torn tail is cut off
    reopened.append("progress", step=3)
    assert [(e.seq, e.payload["step"]) for e in read_events(path, 0).events] == [(1, 1), (2, 2), (3, 3)]


def test_reader_stops_at_a_gap_or_a_bad_line(tmp_path):
    good = b'{"seq":1,"time":1.0,"type":"progress","step":1}\n'
    assert [e.seq for e in parse(good + b'{"seq":3,"time":1.0,"type":"progress"}\n', 0, start_seq=1).events] == [1]
    assert [e.seq for e in parse(good + b"not json\n" + good, 0).events] == [1]


def test_read_from_an_offset_sees_only_new_events_and_a_wrong_offset_falls_back(tmp_path):
    log = EventLog(tmp_path)
    log.append_many([("progress", {"step": i}) for i in range(1, 6)])
    first = read_events(log.path, 0)
    assert first.last_seq == 5 and len(first.events) == 5
    assert read_events(log.path, 5, first.offset, first.last_seq).events == []  # nothing new
    log.append("progress", step=6)
    tail = read_events(log.path, 5, first.offset, first.last_seq)
    assert [e.seq for e in tail.events] == [6] and tail.offset == log.path.stat().st_size
    wrong = read_events(log.path, 3, 7, 2)  # an offset inside a line: the whole file is read again
    assert [e.seq for e in wrong.events] == [4, 5, 6]


def test_threads_sharing_one_log_keep_seq_in_order_without_gaps(tmp_path):
    log = EventLog(tmp_path)

    def write(n):
        for i in range(50):
            log.append("progress", step=n * 100 + i)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [e.seq for e in read_events(log.path, 0).events] == list(range(1, 201))


def test_opening_a_log_never_cuts_a_line_being_written(tmp_path):
    from core.events.sink import EventHistory

    EventLog(tmp_path).append("progress", step=1)
    path = tmp_path / "events.jsonl"
    partial = path.read_bytes() + b'{"seq":2,"time":1.0,"ty'  # the writer (rank 0) is mid-write
    path.write_bytes(partial)
    EventLog(tmp_path)  # another rank opens it, and only reads
    EventHistory(tmp_path, {"name": "r", "kind": "train"}).get_run("r")
    assert path.read_bytes() == partial
