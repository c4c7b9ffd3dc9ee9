"""Property-based fuzzing of every reader and cleaner that reads outside data (`python -m fuzzing`).

Each target in fuzzing.targets draws an input, real sample bytes mutated (fuzzing.mutate) or
built from drawn parts, runs the reader on it and checks what the reader documents: only its
documented errors, bounded output, and records plus dead letters that account for the input.
"""
