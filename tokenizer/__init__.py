"""SentencePiece BPE training, batch encoding and the Arrow token-shard format
(docs/recipe/tokenizer.md)."""
