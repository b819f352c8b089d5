"""Cross-cutting service plumbing: settings, security, cache, rate limits, metrics, logging."""
