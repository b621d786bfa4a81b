"""One builder per tab; each returns a NamedTuple of its components and wires its own events."""
