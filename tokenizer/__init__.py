"""SentencePiece BPE training, batch encoding and the Arrow token-shard format (SPEC §8)."""
