"""The mailer: a Kafka consumer of the notifications topic that emails customers by SMTP.

Each notification_id is mailed at most once: it is written to a durable sent-ledger (sqlite,
under the state directory) before the SMTP conversation starts, and one already there is
skipped. Offsets are committed after the notifications they cover are handled, so a crash
re-reads some records and the ledger drops them. Message texts are templates a retailer
edits (connectors/mailer/templates/<kind>.txt, or OMS_MAIL_TEMPLATES_DIR).
"""
