"""HTTP only: OpenAI-compatible routes and the admin API. No business rule lives here."""
