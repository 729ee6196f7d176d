"""Shared library of the Ticketing services.

Everything two services would otherwise write twice lives here: the JSON error contract,
the session cookie, settings, event subjects and schemas, the JetStream publisher and
listener, the per-document outbox, and the wiring that starts a service.
"""
