"""Training and fetching the models the filters use: language models, perplexity cut-offs, the
Wikipedia-reference classifier, fastText lid.176."""
