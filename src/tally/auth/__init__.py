"""API keys, JWTs and the principal they name: who asks, and what it may read."""
