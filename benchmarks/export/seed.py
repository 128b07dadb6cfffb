"""A practice with rows in every table a professional owns, seeded set-based (``generate_series``), for the export
benchmark (the five-year practice) and tests/test_account_export.py (a small one).

    counts = seed_practice(professional_id, clients=2000, appointments=20000, notes=10000, messages=50000)
    # -> {"availability": 10, "clients": 2000, "recurringSchedules": 200, "appointments": 20000, ...}: the rows of
    #    each array of the export document (keys as odys.account_export writes them)

Texts carry what JSON and CSV must escape (quotes, a newline, accents, a leading "=") and have realistic lengths:
a note ~600 characters, a message ~110. Appointments are two hours apart back from ``until`` (no overlap),
statuses and payments in turn. Besides the exported tables it fills the excluded ones (follows, idempotency keys,
quick-reply uses) so that the export is seen to leave them out.
"""

from __future__ import annotations

import datetime as dt

from odys import db

NOTE = ("Sessão \"inicial\": paciente relata ansiedade no trabalho;\nplano: TCC, 12 sessões. " * 8)[:600]
MESSAGE = ("Olá! Sua sessão está confirmada para amanhã às 14:30. "
           "Para remarcar, use o link: https://odys.com.br/b/x ")


def seed_practice(professional_id: str, *, clients: int, appointments: int, notes: int, messages: int,
                  until: dt.datetime | None = None) -> dict[str, int]:
    assert clients >= 12, "a client's appointments must be a day apart (one series occurrence per date)"
    until = until or dt.datetime.now(dt.timezone.utc)
    pid = professional_id
    series = max(1, clients // 10)
    reviews = max(1, appointments // 20)
    notifications = max(1, appointments // 10)
    db.run("INSERT INTO availability (professional_id, day_of_week, start_time, end_time) "
           "SELECT CAST(:p AS uuid), d, t.s, t.e FROM generate_series(1, 5) d, "
           "(VALUES (time '09:00', time '12:00'), (time '14:00', time '18:00')) t(s, e)", p=pid)
    db.run("INSERT INTO clients (professional_id, name, phone, email, whatsapp_opted_out_at) "
           "SELECT CAST(:p AS uuid), "
           "CASE WHEN k = 0 THEN '=HYPERLINK(\"http://x\")' ELSE 'Cliente ' || k || ' João' END, "
           "'+55219' || lpad(k::text, 8, '0'), CASE WHEN k % 3 = 0 THEN 'c' || k || '@example.com' END, "
           "CASE WHEN k % 50 = 0 THEN now() END FROM generate_series(0, :n - 1) k", p=pid, n=clients)
    # the clients numbered as above (ck = k, by phone)
    numbered = ("(SELECT id, row_number() OVER (ORDER BY phone) - 1 AS ck FROM clients "
                "WHERE professional_id = CAST(:p AS uuid))")
    db.run(f"INSERT INTO recurring_schedules (professional_id, client_id, day_of_week, start_time, duration_minutes, "
           f"starts_on, price) SELECT CAST(:p AS uuid), c.id, 1 + c.ck % 5, time '07:00', 50, date '2022-01-03', 15000 "
           f"FROM {numbered} c WHERE c.ck < :n", p=pid, n=series)
    db.run(f"INSERT INTO appointments (professional_id, client_id, starts_at, ends_at, status, payment_status, price, "
           f"notes, client_notes, pix_txid) "
           f"SELECT CAST(:p AS uuid), c.id, CAST(:until AS timestamptz) - k * interval '2 hours', "
           f"CAST(:until AS timestamptz) - k * interval '2 hours' + interval '50 minutes', "
           f"(ARRAY['completed','completed','completed','no_show','cancelled','confirmed'])[1 + k % 6], "
           f"(ARRAY['paid','paid','unpaid','waived','refunded','pending'])[1 + (k + k / 6) % 6], 15000, "
           f"CASE WHEN k % 4 = 0 THEN 'Trazer exames; \"urgente\"' END, CASE WHEN k % 7 = 0 THEN 'Prefiro online' END, "
           f"CASE WHEN k % 2 = 0 THEN 'TX' || substr(md5(CAST(:p AS text) || k), 1, 20) END "
           f"FROM generate_series(1, :n) k JOIN {numbered} c ON c.ck = k % :clients", p=pid, until=until,
           n=appointments, clients=clients)
    # a series' occurrences: the first appointments of the first clients (their series)
    db.run("UPDATE appointments a SET recurring_schedule_id = rs.id, occurrence_date = (a.starts_at AT TIME ZONE "
           "'America/Sao_Paulo')::date FROM recurring_schedules rs WHERE rs.client_id = a.client_id "
           "AND a.professional_id = CAST(:p AS uuid)", p=pid)
    db.run(f"INSERT INTO client_notes (professional_id, client_id, body, created_at) "
           f"SELECT CAST(:p AS uuid), c.id, :body || k, CAST(:until AS timestamptz) - k * interval '3 hours' "
           f"FROM generate_series(1, :n) k JOIN {numbered} c ON c.ck = k % :clients", p=pid, body=NOTE, until=until,
           n=notes, clients=clients)
    db.run(f"INSERT INTO messages (professional_id, client_id, direction, channel, template, body, status, recipient, "
           f"to_phone, params, automatic, provider_message_id, created_at) "
           f"SELECT CAST(:p AS uuid), c.id, CASE WHEN k % 5 = 0 THEN 'inbound' ELSE 'outbound' END, 'whatsapp', "
           f"CASE WHEN k % 5 = 0 THEN NULL ELSE 'msgReminder24h' END, :body || k, "
           f"CASE WHEN k % 5 = 0 THEN 'received' ELSE 'read' END, CASE WHEN k % 5 = 0 THEN NULL ELSE 'client' END, "
           f"CASE WHEN k % 5 = 0 THEN NULL ELSE '+5521900000000' END, "
           f"CASE WHEN k % 5 = 0 THEN NULL ELSE jsonb_build_object('client_name', 'Cliente', 'n', k) END, "
           f"k % 5 <> 0, 'wamid.' || CAST(:p AS text) || '.' || k, "
           f"CAST(:until AS timestamptz) - k * interval '30 minutes' "
           f"FROM generate_series(1, :n) k JOIN {numbered} c ON c.ck = k % :clients", p=pid, body=MESSAGE,
           until=until, n=messages, clients=clients)
    db.run("INSERT INTO reviews (professional_id, client_id, appointment_id, rating, comment) "
           "SELECT professional_id, client_id, id, 1 + (row_number() OVER (ORDER BY starts_at)) % 5, "
           "'Ótima, recomendo' "
           "FROM appointments WHERE professional_id = CAST(:p AS uuid) AND status = 'completed' "
           "ORDER BY starts_at LIMIT :n", p=pid, n=reviews)
    db.run("INSERT INTO notifications (professional_id, client_id, recipient_type, recipient_id, kind, title, body) "
           "SELECT CAST(:p AS uuid), c.id, 'professional', CAST(:p AS uuid), 'booking_created', 'Nova sessão', "
           "'Cliente ' || k || ' agendou' FROM generate_series(1, :n) k "
           f"JOIN {numbered} c ON c.ck = k % :clients", p=pid, n=notifications, clients=clients)
    db.run("INSERT INTO message_templates (professional_id, key, locale, body, enabled) VALUES "
           "(CAST(:p AS uuid), 'msgReminder24h', 'pt-BR', 'Até amanhã, {{client_name}}!', true), "
           "(CAST(:p AS uuid), 'msgReviewRequest', 'pt-BR', NULL, false)", p=pid)
    db.run("INSERT INTO deletion_audit (professional_id, actor, action, counts) VALUES "
           "(CAST(:p AS uuid), 'professional', 'client_deleted', '{\"clients\": 1, \"appointments\": 3}')", p=pid)
    charges, payments = max(1, appointments // 10), max(1, appointments // 20)
    db.run("INSERT INTO pix_connections (professional_id, provider, pix_key, credentials, webhook_token_hash, status) "
           "VALUES (CAST(:p AS uuid), 'efi', 'ana@example.com', '\\x00'::bytea, sha256(CAST(:p AS text)::bytea), "
           "'active')", p=pid)
    db.run("INSERT INTO pix_charges (txid, professional_id, appointment_id, status, amount_cents, expires_at, "
           "copy_and_paste) SELECT 'C' || substr(md5(CAST(id AS text)), 1, 30), professional_id, id, 'paid', price, "
           "starts_at, '000201...' FROM appointments WHERE professional_id = CAST(:p AS uuid) ORDER BY starts_at "
           "LIMIT :n", p=pid, n=charges)
    db.run("INSERT INTO pix_payments (end_to_end_id, professional_id, appointment_id, txid, amount_cents, paid_at, "
           "payer_name_masked, source) SELECT 'E' || substr(md5(txid), 1, 30), professional_id, appointment_id, txid, "
           "amount_cents, expires_at, 'Cl*** Jo***', 'webhook' FROM pix_charges "
           "WHERE professional_id = CAST(:p AS uuid) ORDER BY txid LIMIT :n", p=pid, n=payments)
    # the tables the export leaves out
    db.run("INSERT INTO follows (user_id, professional_id) SELECT 'follower-' || k, CAST(:p AS uuid) "
           "FROM generate_series(1, 3) k", p=pid)
    db.run("INSERT INTO idempotency_keys (professional_id, key, request_hash, expires_at) "
           "VALUES (CAST(:p AS uuid), 'seed-key', repeat('a', 64), now() + interval '1 day')", p=pid)
    db.run("INSERT INTO quick_reply_uses (payload_id, professional_id, appointment_id, action) "
           "SELECT 'seed-' || CAST(:p AS text), professional_id, id, 'confirm' FROM appointments "
           "WHERE professional_id = CAST(:p AS uuid) LIMIT 1", p=pid)
    return {"availability": 10, "clients": clients, "recurringSchedules": series, "appointments": appointments,
            "clientNotes": notes, "messages": messages, "notifications": notifications, "reviews": reviews,
            "messageTemplates": 2, "deletionAudit": 1, "pixConnections": 1, "pixCharges": charges,
            "pixPayments": payments}
