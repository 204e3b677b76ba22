"""Concrete physical systems, each a :class:`physnn.PhysicalLayer`."""
