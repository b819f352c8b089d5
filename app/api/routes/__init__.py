"""One router per resource; app.api.router registers them all."""
