-- WhatsApp both ways (issue 8): `messages` is the outbox and the conversation; statuses that arrive before their
-- message's wamid is stored wait in `whatsapp_statuses`; clients carry the WhatsApp ids Meta uses and their
-- opt-out; sending can be paused account-wide; quick-reply payloads are used once.

-- messages: outbound rows are written `queued` in the transaction of the event that causes them, then sent.
ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check
    CHECK (status IN ('queued', 'sent', 'delivered', 'read', 'failed', 'received', 'skipped'));
ALTER TABLE messages
    ADD COLUMN recipient text CHECK (recipient IN ('client', 'professional')),  -- outbound: who it is for
    ADD COLUMN to_phone text CHECK (to_phone ~ '^\+[1-9][0-9]{7,14}$'),         -- outbound: E.164 at queue time
    ADD COLUMN locale text NOT NULL DEFAULT 'pt-BR' CHECK (locale IN ('pt-BR', 'en')),
    ADD COLUMN params jsonb CHECK (params IS NULL OR jsonb_typeof(params) = 'object'),  -- named template values
    ADD COLUMN appointment_id uuid REFERENCES appointments (id) ON DELETE CASCADE,  -- the appointment it is about
    ADD COLUMN appointment_starts_at timestamptz,  -- the start it was written for: a moved appointment gets none
    ADD COLUMN automatic boolean NOT NULL DEFAULT true,  -- sent by the system (plan, opt-out rules) or by hand
    ADD COLUMN error_code integer,                 -- Meta's error code of a failed send or status
    ADD COLUMN skip_reason text CHECK (skip_reason ~ '^[a-z_]{1,40}$'),  -- why a queued message was not sent
    ADD COLUMN attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    ADD COLUMN wa_id text,                         -- the recipient's / sender's WhatsApp id
    ADD COLUMN context_provider_id text,           -- inbound: the wamid of the message it answers
    ADD COLUMN enqueued_at timestamptz,
    ADD COLUMN sent_at timestamptz,
    ADD COLUMN delivered_at timestamptz,
    ADD COLUMN read_at timestamptz,
    ADD COLUMN failed_at timestamptz,
    ADD CONSTRAINT messages_outbound_has_recipient
        CHECK (direction = 'inbound' OR (recipient IS NOT NULL AND to_phone IS NOT NULL)),
    ADD CONSTRAINT messages_client_recipient_has_client CHECK (recipient IS DISTINCT FROM 'client' OR client_id IS NOT NULL),
    ADD CONSTRAINT messages_skipped_has_reason CHECK (status <> 'skipped' OR skip_reason IS NOT NULL);
CREATE INDEX messages_appointment ON messages (appointment_id) WHERE appointment_id IS NOT NULL;
CREATE INDEX messages_conversation ON messages (professional_id, client_id, created_at DESC, id DESC);
CREATE INDEX messages_client_inbound ON messages (client_id, created_at DESC) WHERE direction = 'inbound';
CREATE INDEX messages_to_phone_sent ON messages (to_phone, created_at DESC) WHERE direction = 'outbound';
CREATE INDEX messages_queued_since ON messages (enqueued_at) WHERE status = 'queued';

-- Delivery statuses, deduplicated by (wamid, status); kept even when the wamid is not stored yet (the send's
-- answer may commit after Meta's first status). Holds no personal data (no phone, no text).
CREATE TABLE whatsapp_statuses (
    provider_message_id text NOT NULL,
    status              text NOT NULL CHECK (status IN ('sent', 'delivered', 'read', 'failed')),
    occurred_at         timestamptz NOT NULL,
    error_code          integer,
    error_title         text CHECK (length(error_title) <= 200),
    message_id          uuid REFERENCES messages (id) ON DELETE CASCADE,  -- our id (biz_opaque_callback_data)
    received_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider_message_id, status)
);
CREATE INDEX whatsapp_statuses_message ON whatsapp_statuses (message_id) WHERE message_id IS NOT NULL;

-- How WhatsApp identifies a client (the send answer's / inbound contacts[].wa_id, and Meta's business-scoped
-- user id), and their opt-out of automatic messages (PARAR / SAIR / STOP).
ALTER TABLE clients
    ADD COLUMN wa_id text CHECK (wa_id ~ '^[0-9]{8,15}$'),
    ADD COLUMN wa_user_id text CHECK (length(wa_user_id) <= 64),
    ADD COLUMN whatsapp_opted_out_at timestamptz;
CREATE INDEX clients_wa_id ON clients (wa_id) WHERE wa_id IS NOT NULL;
CREATE INDEX clients_wa_user_id ON clients (wa_user_id) WHERE wa_user_id IS NOT NULL;
CREATE INDEX clients_phone ON clients (phone);

-- Account-level sending pause (expired token 190, restriction 368/131048): one row.
CREATE TABLE whatsapp_state (
    id           boolean PRIMARY KEY DEFAULT true CHECK (id),
    paused_until timestamptz,
    pause_code   integer,
    pause_reason text CHECK (length(pause_reason) <= 200),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
INSERT INTO whatsapp_state (id) VALUES (true);

-- A quick-reply payload acts once.
CREATE TABLE quick_reply_uses (
    payload_id      text PRIMARY KEY CHECK (length(payload_id) <= 100),
    professional_id uuid NOT NULL REFERENCES professionals (id) ON DELETE CASCADE,
    appointment_id  uuid NOT NULL REFERENCES appointments (id) ON DELETE CASCADE,
    action          text NOT NULL CHECK (action IN ('confirm', 'reschedule', 'cancel')),
    used_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quick_reply_uses_professional ON quick_reply_uses (professional_id);
CREATE INDEX quick_reply_uses_appointment ON quick_reply_uses (appointment_id);

-- Per-professional template overrides: switch an automatic message off, or reword its free-form variant.
ALTER TABLE message_templates ALTER COLUMN body DROP NOT NULL;
ALTER TABLE message_templates ADD COLUMN enabled boolean NOT NULL DEFAULT true;
