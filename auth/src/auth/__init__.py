"""The auth service: users, passwords and the session cookie."""
