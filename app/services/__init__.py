"""Domain services of the viewing side: ingestion, analytics, CSV, the server clock."""
