"""Built-in emulators of the image services, one package per backend (``superduper/``)."""
