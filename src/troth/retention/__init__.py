"""Retention: the clocks, the sweep, holds and what the law keeps."""
