"""Notices: everything troth tells people by e-mail (newsletters and marketing for the
lists in the policy, policy-change notices, request answers) goes through the outbox.

    with transaction(ctx) as conn:
        enqueue(conn, ctx, idempotency_key=..., to_addr=..., subject=..., body_text=...,
                list_id="newsletter", subject_id=sid)     # refused without consent
    deliver_due(ctx)                                      # SMTP, or .eml files in HOME/mail

Marketing mail carries RFC 8058 one-click unsubscribe headers; consent is checked again
at delivery, so an unsubscribe suppresses mail already queued.
"""
