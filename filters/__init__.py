"""Pure decisions on documents: no Beam, no I/O beyond loading a model file.

A `filters.base.Filter` has a name (its stage in the report) and returns a keep / drop `Decision`
with a reason for a document or a batch; normalisers, hashes and cleaners sit beside them. Each
is unit-tested and benchmarked on plain lists and wired into pipelines by `ApplyFilters`.
"""
