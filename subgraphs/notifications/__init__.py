"""Notifications: every event that matters to a person becomes exactly one email (issue 9, ADR 0019).

The consumer group (`consumer`) reads user, course, assessment and certification events and hands each
batch to the `pipeline`, which picks the email an event means (`events`), looks up recipients the event
does not carry in the users subgraph (`recipients`), and asks the service to deliver it. The service
(`service`) turns one request into at most one email: the notification records (`repository`) make one
email per event and kind, preferences and one-click unsubscribe tokens (`unsubscribe`) decide whether it
goes, the templates are rendered (`rendering`) and sent through SendGrid's v3 mail-send API with retries
(`delivery`). The graph (`schema`, `types`, `loaders`) serves each user's history and preferences and the
unsubscribe mutation; rest-compat serves them as REST. `app` wires it all.
"""
