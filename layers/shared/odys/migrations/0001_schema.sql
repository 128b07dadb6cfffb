-- Odys data model (SPEC.md "Data model"). Times are timestamptz, money is integer cents (BRL).
-- Every foreign key to a professional or client cascades; every foreign key and hot filter is indexed.

CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE EXTENSION IF NOT EXISTS pgcrypto;  -- gen_random_uuid() on PostgreSQL < 13

CREATE TABLE professionals (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id                   text NOT NULL UNIQUE,
    name                      text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 120),
    slug                      text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9-]{3,40}$'),
    phone                     text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{7,14}$'),
    email                     text NOT NULL CHECK (position('@' IN email) > 1),
    profession                text NOT NULL CHECK (length(btrim(profession)) BETWEEN 1 AND 80),
    bio                       text CHECK (length(bio) <= 2000),
    avatar_url                text CHECK (avatar_url ~ '^https://'),
    city                      text CHECK (length(city) <= 80),
    timezone                  text NOT NULL DEFAULT 'America/Sao_Paulo',
    session_price             integer NOT NULL DEFAULT 0 CHECK (session_price >= 0),
    session_duration_minutes  integer NOT NULL DEFAULT 50 CHECK (session_duration_minutes BETWEEN 5 AND 480),
    buffer_minutes            integer NOT NULL DEFAULT 10 CHECK (buffer_minutes BETWEEN 0 AND 240),
    min_notice_minutes        integer NOT NULL DEFAULT 120 CHECK (min_notice_minutes BETWEEN 0 AND 43200),
    booking_window_days       integer NOT NULL DEFAULT 60 CHECK (booking_window_days BETWEEN 1 AND 365),
    cancellation_notice_hours integer NOT NULL DEFAULT 24 CHECK (cancellation_notice_hours BETWEEN 0 AND 720),
    auto_confirm              boolean NOT NULL DEFAULT true,
    payment_type              text NOT NULL DEFAULT 'per_session' CHECK (payment_type IN ('per_session', 'monthly')),
    pix_key_type              text CHECK (pix_key_type IN ('cpf', 'cnpj', 'email', 'phone', 'evp')),
    pix_key                   text,
    plan                      text NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'basic', 'pro', 'premium')),
    stripe_customer_id        text UNIQUE,
    stripe_subscription_id    text UNIQUE,
    stripe_state_at           timestamptz,  -- time of the newest Stripe event applied (out-of-order guard)
    trial_ends_at             timestamptz,
    whatsapp_enabled          boolean NOT NULL DEFAULT true,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pix_key_pair CHECK ((pix_key IS NULL) = (pix_key_type IS NULL))
);

CREATE TABLE clients (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    professional_id uuid NOT NULL REFERENCES professionals (id) ON DELETE CASCADE,
    user_id         text,
    name            text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 120),
    phone           text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{7,14}$'),
    email           text CHECK (position('@' IN email) > 1),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT clients_phone_per_professional UNIQUE (professional_id, phone),
    CONSTRAINT clients_id_professional UNIQUE (id, professional_id)
);
CREATE UNIQUE INDEX clients_user_per_professional ON clients (professional_id, user_id) WHERE user_id IS NOT NULL;
CREATE INDEX clients_user_id ON clients (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX clients_professional_created ON clients (professional_id, created_at);

CREATE TABLE recurring_schedules (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    professional_id  uuid NOT NULL REFERENCES professionals (id) ON DELETE CASCADE,
    client_id        uuid NOT NULL,
    day_of_week      smallint NOT NULL CHECK (day_of_week BETWEEN 0 AND 6),
    start_time       time NOT NULL,
    duration_minutes integer NOT NULL CHECK (duration_minutes BETWEEN 5 AND 480),
    interval_weeks   smallint NOT NULL DEFAULT 1 CHECK (interval_weeks IN (1, 2, 4)),
    starts_on        date NOT NULL,
    ends_on          date,
    price            integer CHECK (price >= 0),
    active           boolean NOT NULL DEFAULT true,
    materialized_until date,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT recurring_client_same_professional
        FOREIGN KEY (client_id, professional_id) REFERENCES clients (id, professional_id) ON DELETE CASCADE,
    CONSTRAINT recurring_dates CHECK (ends_on IS NULL OR ends_on >= starts_on)
);
CREATE INDEX recurring_schedules_professional ON recurring_schedules (professional_id);
CREATE INDEX recurring_schedules_client ON recurring_schedules (client_id, professional_id);

CREATE TABLE appointments (
    id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    professional_id          uuid NOT NULL REFERENCES professionals (id) ON DELETE CASCADE,
    client_id                uuid NOT NULL,
    recurring_schedule_id    uuid REFERENCES recurring_schedules (id) ON DELETE SET NULL,
    starts_at                timestamptz NOT NULL,
    ends_at                  timestamptz NOT NULL,
    status                   text NOT NULL DEFAULT 'pending'
                             CHECK (status IN ('pending', 'confirmed', 'completed', 'cancelled', 'no_show')),
    payment_status           text NOT NULL DEFAULT 'unpaid'
                             CHECK (payment_status IN ('unpaid', 'pending', 'paid', 'refunded', 'waived')),
    price                    integer NOT NULL DEFAULT 0 CHECK (price >= 0),
    stripe_payment_intent_id text,
    pix_txid                 text UNIQUE CHECK (pix_txid ~ '^[A-Za-z0-9]{1,25}$'),
    notes                    text CHECK (length(notes) <= 2000),
    reminder_sent_at         timestamptz,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT appointments_client_same_professional
        FOREIGN KEY (client_id, professional_id) REFERENCES clients (id, professional_id) ON DELETE CASCADE,
    CONSTRAINT appointments_time_order CHECK (ends_at > starts_at),
    -- No two active appointments of one professional may overlap: the database guarantees it.
    CONSTRAINT appointments_no_overlap EXCLUDE USING gist (
        professional_id WITH =,
        tstzrange(starts_at, ends_at, '[)') WITH &&
    ) WHERE (status IN ('pending', 'confirmed'))
);
CREATE INDEX appointments_professional_starts ON appointments (professional_id, starts_at);
CREATE INDEX appointments_client ON appointments (client_id, professional_id, starts_at);
CREATE INDEX appointments_recurring ON appointments (recurring_schedule_id) WHERE recurring_schedule_id IS NOT NULL;
CREATE INDEX appointments_reminder_due ON appointments (starts_at)
    WHERE status IN ('pending', 'confirmed') AND reminder_sent_at IS NULL;
CREATE UNIQUE INDEX appointments_one_per_series_slot ON appointments (recurring_schedule_id, starts_at)
    WHERE recurring_schedule_id IS NOT NULL;

CREATE TABLE availability (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    professional_id uuid NOT NULL REFERENCES professionals (id) ON DELETE CASCADE,
    day_of_week     smallint NOT NULL CHECK (day_of_week BETWEEN 0 AND 6),
    start_time      time NOT NULL,
    end_time        time NOT NULL,
    CONSTRAINT availability_time_order CHECK (end_time > start_time),
    CONSTRAINT availability_no_overlap EXCLUDE USING gist (
        professional_id WITH =,
        day_of_week WITH =,
        tsrange('2000-01-01'::date + start_time, '2000-01-01'::date + end_time, '[)') WITH &&
    )
);
CREATE INDEX availability_professional ON availability (professional_id, day_of_week);

CREATE TABLE messages (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    professional_id     uuid NOT NULL REFERENCES professionals (id) ON DELETE CASCADE,
    client_id           uuid REFERENCES clients (id) ON DELETE CASCADE,
    direction           text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    channel             text NOT NULL DEFAULT 'whatsapp' CHECK (channel IN ('whatsapp', 'app')),
    template            text,
    body                text NOT NULL,
    status              text NOT NULL DEFAULT 'queued'
                        CHECK (status IN ('queued', 'sent', 'delivered', 'read', 'failed', 'received')),
    provider_message_id text UNIQUE,
    dedupe_key          text UNIQUE,
    error               text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_professional_client ON messages (professional_id, client_id, created_at);
CREATE INDEX messages_client ON messages (client_id);
CREATE INDEX messages_status_queued ON messages (status, created_at) WHERE status IN ('queued', 'failed');

CREATE TABLE client_notes (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    professional_id uuid NOT NULL REFERENCES professionals (id) ON DELETE CASCADE,
    client_id       uuid NOT NULL,
    body            text NOT NULL CHECK (length(btrim(body)) BETWEEN 1 AND 10000),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT client_notes_client_same_professional
        FOREIGN KEY (client_id, professional_id) REFERENCES clients (id, professional_id) ON DELETE CASCADE
);
CREATE INDEX client_notes_client ON client_notes (client_id, professional_id, created_at);
CREATE INDEX client_notes_professional ON client_notes (professional_id);

CREATE TABLE follows (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         text NOT NULL,
    professional_id uuid NOT NULL REFERENCES professionals (id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT follows_once UNIQUE (user_id, professional_id)
);
CREATE INDEX follows_professional ON follows (professional_id);

CREATE TABLE reviews (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    professional_id uuid NOT NULL REFERENCES professionals (id) ON DELETE CASCADE,
    client_id       uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    appointment_id  uuid NOT NULL UNIQUE REFERENCES appointments (id) ON DELETE CASCADE,
    rating          smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment         text CHECK (length(comment) <= 2000),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reviews_professional ON reviews (professional_id, created_at);
CREATE INDEX reviews_client ON reviews (client_id);

CREATE TABLE notifications (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    recipient_type text NOT NULL CHECK (recipient_type IN ('professional', 'client')),
    recipient_id   uuid NOT NULL,
    kind           text NOT NULL,
    title          text NOT NULL,
    body           text NOT NULL DEFAULT '',
    dedupe_key     text UNIQUE,
    read_at        timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_recipient ON notifications (recipient_type, recipient_id, created_at DESC);
CREATE INDEX notifications_unread ON notifications (recipient_type, recipient_id) WHERE read_at IS NULL;

-- Support tables ---------------------------------------------------------------------------------------------

CREATE TABLE stripe_events (
    id           text PRIMARY KEY,
    type         text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE message_templates (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    professional_id uuid NOT NULL REFERENCES professionals (id) ON DELETE CASCADE,
    key             text NOT NULL,
    locale          text NOT NULL DEFAULT 'pt-BR',
    body            text NOT NULL CHECK (length(body) BETWEEN 1 AND 1024),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT message_templates_once UNIQUE (professional_id, key, locale)
);

-- Idempotency-Key of public POSTs (booking): a retried request returns the first answer.
CREATE TABLE idempotency_keys (
    scope         text NOT NULL,
    key           text NOT NULL,
    request_hash  text NOT NULL,
    response      jsonb,
    status_code   integer,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
