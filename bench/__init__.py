"""napekit benches: control quality, safety reaction, web latency, footprint."""
