"""Format converters: WARC to WET, the deterministic WARC writer, multistream MediaWiki dumps."""
