"""`earmark serve`: a local web app to try a model on a file or the microphone and to look inside a run's
mistakes. It only calls `earmark.inference` and reads run folders; FastAPI and uvicorn (the `serve` extra) are
imported when a server is made, not with this package."""
