"""Notifications: every event that matters to a person becomes exactly one email (issue 9, ADR 0019).

Built so far: the email templates and their rendering (`rendering`), delivery through SendGrid's v3
mail-send API with retries (`delivery`), categories with one-click unsubscribe tokens (`unsubscribe`),
the notification records that make one email per event and kind (`repository`), and the service that
turns one request into at most one email, with preferences (`service`). The Kafka consumer, the graph,
REST and the wiring come next.
"""
