"""Beam pipelines: reading, the order of stages, shuffles and joins, sharded writing, reports."""
