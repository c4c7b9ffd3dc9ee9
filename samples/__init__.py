"""The bundled sample corpus, built offline from registry packages (`make sample`)."""
