"""Raw inputs as records, streamed and bounded: WARC/WET files, HTTP, MediaWiki dumps."""
