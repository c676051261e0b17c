"""The web app (FastAPI): pages and the JSON API over the app database; see ``app.py``."""
