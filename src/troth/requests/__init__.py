"""Requests from the people the data is about: access, portability, correction, deletion,
restriction, objection and account closure, tracked against their legal deadlines."""
