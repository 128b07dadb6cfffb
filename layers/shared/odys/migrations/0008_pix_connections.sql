-- Automatic PIX confirmation (issue 13): a professional's connection to their own PSP (BACEN API Pix), the
-- immediate charges (cob) Odys creates there per appointment, and the payments the PSP confirmed.
-- Everything is the professional's (ON DELETE CASCADE): deleting the account deletes the credentials too.

-- One connection per professional. `credentials` is an envelope (odys.sealed): a KMS-encrypted data key and the
-- AES-GCM ciphertext of {clientId, clientSecret, certificate, key}; never readable without KMS Decrypt.
-- `webhook_token_hash` is sha256 of the unguessable token in the callback URL (the token itself is not stored).
CREATE TABLE pix_connections (
    professional_id    uuid PRIMARY KEY REFERENCES professionals (id) ON DELETE CASCADE,
    provider           text NOT NULL CHECK (provider IN ('efi', 'bacen')),
    pix_key            text NOT NULL CHECK (length(pix_key) BETWEEN 1 AND 77),
    api_base_url       text,
    token_url          text,
    credentials        bytea NOT NULL,
    webhook_token_hash bytea NOT NULL UNIQUE,
    status             text NOT NULL CHECK (status IN ('active', 'error')),
    certificate_expires_at timestamptz,
    last_checked_at    timestamptz,
    last_error         text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- One immediate charge per appointment (txid 26-35 alphanumerics, chosen by Odys once). `status`: creating (the
-- row exists, the PSP has not confirmed the PUT yet), active, paid, removed (cancelled at the PSP) or failed.
-- Deleting the appointment (by any path: the appointment, its client, its series, retention) keeps the charge
-- with appointment_id NULL until it is removed at the PSP (right after the deletion, or by the next
-- reconciliation run when the PSP was down); the orphan row is deleted then. No PSP call inside a transaction.
CREATE TABLE pix_charges (
    txid              text PRIMARY KEY CHECK (txid ~ '^[A-Za-z0-9]{26,35}$'),
    professional_id   uuid NOT NULL REFERENCES professionals (id) ON DELETE CASCADE,
    appointment_id    uuid UNIQUE REFERENCES appointments (id) ON DELETE SET NULL,
    status            text NOT NULL CHECK (status IN ('creating', 'active', 'paid', 'removed', 'failed')),
    amount_cents      integer NOT NULL CHECK (amount_cents > 0),
    expires_at        timestamptz NOT NULL,
    revision          integer NOT NULL DEFAULT 0,
    copy_and_paste    text,
    recheck_requested timestamptz,
    checked_at        timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pix_charges_to_check ON pix_charges (professional_id, checked_at) WHERE status = 'active';
CREATE INDEX pix_charges_orphans ON pix_charges (professional_id) WHERE appointment_id IS NULL;

-- A PIX the PSP confirmed, recorded once under its endToEndId (callbacks and reconciliation race harmlessly).
-- The payer's name is stored masked ("Fu*** Si***"); the appointment may be deleted later (the row stays).
CREATE TABLE pix_payments (
    end_to_end_id     text PRIMARY KEY CHECK (end_to_end_id ~ '^[A-Za-z0-9]{1,35}$'),
    professional_id   uuid NOT NULL REFERENCES professionals (id) ON DELETE CASCADE,
    appointment_id    uuid REFERENCES appointments (id) ON DELETE SET NULL,
    txid              text NOT NULL,
    amount_cents      integer NOT NULL CHECK (amount_cents > 0),
    refunded_cents    integer NOT NULL DEFAULT 0 CHECK (refunded_cents >= 0),
    paid_at           timestamptz NOT NULL,
    payer_name_masked text,
    source            text NOT NULL CHECK (source IN ('webhook', 'reconciliation')),
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pix_payments_appointment ON pix_payments (appointment_id);
CREATE INDEX pix_payments_professional ON pix_payments (professional_id, paid_at);
