"""Local fakes of external SaaS (OAuth providers, ...) that speak their documented HTTP protocols."""
