"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs a task per request and breaks streaming)."""
