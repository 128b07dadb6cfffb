"""Privacy of the public surface and of deletion (issue 7, items 1-4): what a client sees, what a public answer
reveals, and what is left after an account or a client is deleted."""

from __future__ import annotations

import datetime as dt

from booking_helpers import add_client, book, configure, local_today, slots_on

from odys import clock, db, retention
from odys.store import deletion_audit as deletion_audit_store

PAGE_IP = "198.51.100.7"
PRIVATE = "Hipótese diagnóstica: ansiedade generalizada"


def _everything_in_the_database() -> str:
    """Every row of every table (but the migration ledger), as text."""
    tables = [r[0] for r in db.run("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                   "AND tablename <> 'schema_migrations' ORDER BY tablename")]
    return "\n".join(str(row[0]) for table in tables for row in db.run(f"SELECT t::text FROM {table} t"))


# --- 1. the professional's notes stay private ------------------------------------------------------------------

def test_the_link_shows_the_clients_own_words_never_the_professionals_notes(api, open_mornings):
    token, found = open_mornings
    created = book(api, found[0]["startsAt"], notes="Prefiro online")
    assert created.status == 201, created.body
    appointment_id = created.json["appointment"]["id"]
    edited = api.patch(f"/api/appointments/{appointment_id}", token=token, json_body={"notes": PRIVATE})
    assert edited.status == 200, edited.body
    assert edited.json["notes"] == PRIVATE and edited.json["clientNotes"] == "Prefiro online"

    shown = api.get(f"/api/booking/{created.json['manageToken']}", source_ip=PAGE_IP)
    assert shown.status == 200, shown.body
    assert shown.json["appointment"]["notes"] == "Prefiro online"
    assert "ansiedade" not in shown.body
    changed = api.patch(f"/api/booking/{created.json['manageToken']}", json_body={"action": "cancel"})
    assert changed.status == 200 and "ansiedade" not in changed.body
    # the professional's view keeps both, apart
    agenda = api.get(f"/api/appointments/{appointment_id}", token=token).json
    assert agenda["notes"] == PRIVATE and agenda["clientNotes"] == "Prefiro online"


# --- 2. a public answer reveals nothing on file ----------------------------------------------------------------

def test_booking_with_a_known_phone_answers_only_what_was_sent(api, open_mornings):
    _, found = open_mornings
    add_client("+5511977776666", name="Maria Registrada")
    known = book(api, found[0]["startsAt"], phone="+5511977776666", name="Outra Pessoa", ip="192.0.2.20")
    unknown = book(api, found[1]["startsAt"], phone="+5511911112222", name="Outra Pessoa", ip="192.0.2.21")
    assert known.status == unknown.status == 201, (known.body, unknown.body)
    assert "Maria" not in known.body and "Registrada" not in known.body
    assert known.json["appointment"]["client"] == unknown.json["appointment"]["client"] == {"name": "Outra Pessoa"}

    def shape(value):
        return {k: shape(v) for k, v in value.items()} if isinstance(value, dict) else type(value).__name__

    assert shape(known.json) == shape(unknown.json)  # the same answer whether or not the phone was known
    link = api.get(f"/api/booking/{known.json['manageToken']}", source_ip=PAGE_IP)
    assert link.status == 200 and "Maria" not in link.body
    # the professional's record is untouched by the public form
    assert db.scalar("SELECT name FROM clients WHERE phone = '+5511977776666'") == "Maria Registrada"


# --- 3. deletion leaves nothing behind -------------------------------------------------------------------------

def test_deleting_the_account_leaves_no_row_with_its_clients_data(api, open_mornings):
    token, found = open_mornings
    created = book(api, found[0]["startsAt"], name="Joana Sigilosa", phone="+5511966665555", key="key-del-1",
                   notes="Prefiro online")
    assert created.status == 201, created.body
    api.patch(f"/api/appointments/{created.json['appointment']['id']}", token=token, json_body={"notes": PRIVATE})
    api.patch(f"/api/booking/{created.json['manageToken']}", json_body={"action": "cancel"})
    before = _everything_in_the_database()
    assert "Joana Sigilosa" in before and "5511966665555" in before  # the check below can fail
    assert db.scalar("SELECT count(*) FROM notifications") >= 2 and db.scalar("SELECT count(*) FROM idempotency_keys")

    professional_id = str(db.scalar("SELECT id FROM professionals WHERE slug = 'ana-psi'"))
    deleted = api.delete("/api/account", token=token, json_body={"confirm": "ana-psi"})
    assert deleted.status == 204, deleted.body
    after = _everything_in_the_database()
    for trace in ("Joana", "5511966665555", "ansiedade", "Prefiro online", "ana-psi", "Ana Souza"):
        assert trace not in after, trace
    # ... except one proof of the deletion: whose, what and how many, no personal data
    audit = deletion_audit_store.for_professional(professional_id)
    assert [(a["actor"], a["action"]) for a in audit] == [("professional", "account_deleted")]
    assert audit[0]["counts"]["clients"] == 1 and audit[0]["counts"]["appointments"] == 1
    assert audit[0]["counts"]["notifications"] >= 2


def test_deleting_a_client_removes_their_notifications_and_keys(api, open_mornings):
    token, found = open_mornings
    mine = book(api, found[0]["startsAt"], name="Joana Sigilosa", phone="+5511966665555", key="key-del-2")
    other = book(api, found[1]["startsAt"], name="Carla Outra", phone="+5511955554444", key="key-keep", ip="192.0.2.30")
    assert mine.status == other.status == 201
    client_id = db.scalar("SELECT id FROM clients WHERE phone = '+5511966665555'")
    assert api.delete(f"/api/clients/{client_id}", token=token).status == 204
    after = _everything_in_the_database()
    assert "Joana" not in after and "5511966665555" not in after
    assert "Carla Outra" in after  # the other client's traces stay
    assert db.scalar("SELECT count(*) FROM idempotency_keys") == 1
    professional_id = str(db.scalar("SELECT id FROM professionals"))
    audit = deletion_audit_store.for_professional(professional_id)
    assert [(a["action"], a["counts"]["clients"], a["counts"]["appointments"]) for a in audit] == [
        ("client_deleted", 1, 1)]
    # someone else's (or a made-up) client id: 404, and no audit row
    assert api.delete(f"/api/clients/{client_id}", token=token).status == 404
    assert len(deletion_audit_store.for_professional(professional_id)) == 1


# --- 4. idempotency keys: scoped, expiring, holding nothing personal ---------------------------------------------

def test_idempotency_keys_are_per_professional_expire_and_store_no_answer(api, open_mornings, token_for):
    _, found = open_mornings
    other_token = token_for()
    from conftest import onboarding_body

    assert api.post("/api/account", token=other_token, json_body=onboarding_body(
        "bruno-nutri", name="Bruno", email="bruno@example.com")).status == 201
    configure(api, other_token)
    other_slot = slots_on(api, local_today() + dt.timedelta(days=3), slug="bruno-nutri", ip=PAGE_IP)[0]

    first = book(api, found[0]["startsAt"], key="shared-key")
    assert first.status == 201
    # the same key at another professional is another namespace: a booking of its own, not a replay nor a 422
    elsewhere = api.post("/api/booking", headers={"Idempotency-Key": "shared-key"}, source_ip="192.0.2.40", json_body={
        "slug": "bruno-nutri", "startsAt": other_slot["startsAt"], "client": {"name": "Bia Lima",
                                                                              "phone": "+5511988887777"}})
    assert elsewhere.status == 201 and "Idempotent-Replayed" not in elsewhere.headers
    assert elsewhere.json["manageToken"] != first.json["manageToken"]

    columns = {r["column_name"] for r in db.all("SELECT column_name FROM information_schema.columns "
                                                 "WHERE table_name = 'idempotency_keys'")}
    assert columns == {"professional_id", "key", "request_hash", "appointment_id", "created_at", "expires_at"}
    lifetime = db.scalar("SELECT max(expires_at - created_at) FROM idempotency_keys")
    assert dt.timedelta(hours=24) <= lifetime <= dt.timedelta(hours=72)


def test_an_expired_idempotency_key_is_a_new_request(api, open_mornings, monkeypatch):
    _, found = open_mornings
    assert book(api, found[0]["startsAt"], key="old-key").status == 201
    later = clock.now() + retention.IDEMPOTENCY_KEY_TTL + dt.timedelta(minutes=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    # before expiry another body would be 422 idempotency_key_reused; after it the key is free again
    fresh = book(api, found[1]["startsAt"], key="old-key", ip="192.0.2.41")
    assert fresh.status == 201 and "Idempotent-Replayed" not in fresh.headers, fresh.body
    assert fresh.json["appointment"]["startsAt"] == found[1]["startsAt"]
    assert db.scalar("SELECT count(*) FROM appointments") == 2


def test_retention_purges_expired_keys_old_stripe_events_and_old_read_notifications(api, open_mornings):
    _, found = open_mornings
    assert book(api, found[0]["startsAt"], key="k-live").status == 201
    assert book(api, found[1]["startsAt"], key="k-dead", ip="192.0.2.42").status == 201
    db.run("UPDATE idempotency_keys SET created_at = now() - interval '3 days', expires_at = now() - interval '2 days' "
           "WHERE key = 'k-dead'")
    db.run("INSERT INTO stripe_events (id, type, processed_at) VALUES ('evt_old', 'x', now() - interval '40 days'), "
           "('evt_new', 'x', now())")
    db.run("UPDATE notifications SET read_at = now() - interval '100 days' WHERE id = "
           "(SELECT id FROM notifications ORDER BY created_at LIMIT 1)")
    unread = db.scalar("SELECT count(*) FROM notifications WHERE read_at IS NULL")
    db.run("INSERT INTO whatsapp_statuses (provider_message_id, status, occurred_at, received_at) VALUES "
           "('wamid.old', 'sent', now() - interval '9 days', now() - interval '8 days'), "
           "('wamid.new', 'sent', now(), now())")
    assert retention.purge(clock.now()) == {"idempotency_keys": 1, "stripe_events": 1, "notifications": 1,
                                            "whatsapp_statuses": 1, "deletion_audit": 0}
    assert [r[0] for r in db.run("SELECT key FROM idempotency_keys")] == ["k-live"]
    assert [r[0] for r in db.run("SELECT id FROM stripe_events")] == ["evt_new"]
    assert db.scalar("SELECT count(*) FROM notifications") == unread
    assert retention.purge(clock.now()) == {"idempotency_keys": 0, "stripe_events": 0, "notifications": 0,
                                            "whatsapp_statuses": 0, "deletion_audit": 0}


def test_every_table_with_personal_data_is_owned_by_a_professional():
    """Each table but the support ones (no personal data: migration ledger, Stripe event ids, WhatsApp delivery
    statuses and the sending pause) references professionals with ON DELETE CASCADE (directly)."""
    owned = {r[0] for r in db.run(
        "SELECT c.conrelid::regclass::text FROM pg_constraint c WHERE c.contype = 'f' "
        "AND c.confrelid = 'professionals'::regclass AND c.confdeltype = 'c'")}
    tables = {r[0] for r in db.run("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert tables - owned == {"professionals", "schema_migrations", "stripe_events", "whatsapp_statuses",
                              "whatsapp_state", "deletion_audit"}
