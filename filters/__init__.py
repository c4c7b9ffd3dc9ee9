"""Pure text-processing units: no Beam, no I/O beyond loading a model file.

Each unit takes a document (or text) and returns scores and a keep/drop `Decision` with a reason,
so it can be unit-tested and benchmarked on its own and wired into any pipeline.
"""
