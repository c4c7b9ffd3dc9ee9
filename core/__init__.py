"""What every part of the project shares, without Apache Beam: ids and shard names, file hashes,
atomic writes, JSON and manifests, dead letters, document schemas.

training/ and mixtures/ import from here and never from pipelines/, so neither pulls in Beam.
"""
