"""The built single-page web app (static files)."""
