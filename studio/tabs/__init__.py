"""One builder per tab; each returns a record (NamedTuple or frozen dataclass) of its components and wires its own events."""
