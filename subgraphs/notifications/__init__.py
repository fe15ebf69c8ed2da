"""Notifications: every event that matters to a person becomes exactly one email (issue 9, ADR 0019).

Built so far: the email templates and their rendering (`rendering`), delivery through SendGrid's v3
mail-send API with retries (`delivery`), and categories with one-click unsubscribe tokens
(`unsubscribe`), and the notification records that make one email per event and kind (`repository`).
The consumer, preferences and the subgraph come next.
"""
