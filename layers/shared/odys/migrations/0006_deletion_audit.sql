-- LGPD (issue 11): every deletion leaves one row that proves it happened, without personal data: which
-- professional's data (their id, which survives the account: no foreign key), who asked (the professional or
-- the client user), what was removed and how many rows of each kind. Kept five years (odys.retention).
CREATE TABLE deletion_audit (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    professional_id uuid NOT NULL,
    actor           text NOT NULL CHECK (actor IN ('professional', 'client_user')),
    action          text NOT NULL CHECK (action IN ('account_deleted', 'client_deleted', 'client_erasure')),
    counts          jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deletion_audit_professional ON deletion_audit (professional_id, created_at);
