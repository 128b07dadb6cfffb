-- Hardening (issue 7): what a client wrote is kept apart from the professional's private notes; every row that
-- holds someone's data goes with its owner; idempotency keys are scoped, expiring and hold no personal data; a
-- series has at most one occurrence per rule date.

-- 1. The client's own words at booking time. `notes` stays the professional's private text.
ALTER TABLE appointments ADD COLUMN client_notes text CHECK (length(client_notes) <= 2000);

-- 2. Notifications belong to a professional (and, when they are about a client, to that client too): deleting
--    either deletes them. Rows without a professional owner cannot be attributed and are dropped.
ALTER TABLE notifications
    ADD COLUMN professional_id uuid REFERENCES professionals (id) ON DELETE CASCADE,
    ADD COLUMN client_id uuid;
UPDATE notifications SET professional_id = recipient_id WHERE recipient_type = 'professional';
DELETE FROM notifications n WHERE n.professional_id IS NULL
    OR NOT EXISTS (SELECT 1 FROM professionals p WHERE p.id = n.professional_id);
ALTER TABLE notifications
    ALTER COLUMN professional_id SET NOT NULL,
    ADD CONSTRAINT notifications_client_same_professional
        FOREIGN KEY (client_id, professional_id) REFERENCES clients (id, professional_id) ON DELETE CASCADE;
CREATE INDEX notifications_professional ON notifications (professional_id);
CREATE INDEX notifications_client ON notifications (client_id, professional_id) WHERE client_id IS NOT NULL;

-- 3. Idempotency keys: one namespace per professional being booked, an expiry, and only what a replay needs (the
--    appointment it created; the answer is rendered again from it). Old rows held whole answers: dropped.
DROP TABLE idempotency_keys;
CREATE TABLE idempotency_keys (
    professional_id uuid NOT NULL REFERENCES professionals (id) ON DELETE CASCADE,
    key             text NOT NULL CHECK (key ~ '^[\x21-\x7e]{1,255}$'),
    request_hash    text NOT NULL CHECK (request_hash ~ '^[0-9a-f]{64}$'),
    appointment_id  uuid REFERENCES appointments (id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (professional_id, key),
    CONSTRAINT idempotency_keys_expiry CHECK (expires_at > created_at)
);
CREATE INDEX idempotency_keys_appointment ON idempotency_keys (appointment_id) WHERE appointment_id IS NOT NULL;
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);

-- 4. A series' occurrence is identified by its rule date (the local date the rule gives), not by its instant:
--    changing the series' time moves the occurrence instead of adding a second one on the same date.
ALTER TABLE appointments ADD COLUMN occurrence_date date;
UPDATE appointments a SET occurrence_date = (a.starts_at AT TIME ZONE p.timezone)::date
    FROM professionals p WHERE p.id = a.professional_id AND a.recurring_schedule_id IS NOT NULL;
-- Dates that the old rule gave two occurrences keep the earliest-created one in the series; the others stay as
-- standalone appointments (nothing is lost).
UPDATE appointments a SET recurring_schedule_id = NULL, occurrence_date = NULL
    FROM (SELECT id, row_number() OVER (PARTITION BY recurring_schedule_id, occurrence_date
                                        ORDER BY created_at, id) AS n
          FROM appointments WHERE recurring_schedule_id IS NOT NULL) d
    WHERE d.id = a.id AND d.n > 1;
DROP INDEX appointments_one_per_series_slot;
CREATE UNIQUE INDEX appointments_one_per_series_date ON appointments (recurring_schedule_id, occurrence_date)
    WHERE recurring_schedule_id IS NOT NULL;
ALTER TABLE appointments ADD CONSTRAINT appointments_occurrence_date_in_series
    CHECK (recurring_schedule_id IS NULL OR occurrence_date IS NOT NULL);
