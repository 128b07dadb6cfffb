-- The client's side (issue 11): a client user is linked to their `clients` rows by verified identity; they follow
-- professionals and review their own completed appointments; the professional may hide a review, not edit it.

-- A professional hides a review from the public page (recorded: when and by which user), never edits it.
ALTER TABLE reviews
    ADD COLUMN hidden_at timestamptz,
    ADD COLUMN hidden_by text CHECK (length(hidden_by) <= 255),
    ADD CONSTRAINT reviews_hidden_recorded CHECK ((hidden_at IS NULL) = (hidden_by IS NULL));
-- The public page: visible reviews of a professional, newest first (keyset created_at, id).
CREATE INDEX reviews_public ON reviews (professional_id, created_at DESC, id DESC) WHERE hidden_at IS NULL;

-- Linking by verified e-mail looks among the rows no user holds yet (by phone: clients_phone, migration 0005).
CREATE INDEX clients_unlinked_email ON clients (lower(email)) WHERE user_id IS NULL;

-- A client user's erasure request unlinks their records for good: no later request of theirs (the next GET, with the
-- same token) and no later owner of their number links them again, until the professional changes the record's
-- phone or e-mail (below).
ALTER TABLE clients
    ADD COLUMN link_erased_at timestamptz,
    ADD CONSTRAINT clients_erased_link_unlinked CHECK (link_erased_at IS NULL OR user_id IS NULL);

-- A link is proven against a record's phone and e-mail as they are. When anyone but its holder changes either (the
-- professional corrects a number or a mistyped e-mail), the record lets its user go, so only the verified owner of
-- the new contact data can link it, and an erasure's block (about the old data) lapses. The holder's own
-- rectification (odys.client_profile.update names the user in the transaction-local odys.rectifying_user) keeps it.
CREATE FUNCTION clients_contact_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.user_id IS NOT NULL AND NEW.user_id = current_setting('odys.rectifying_user', true) THEN
        RETURN NEW;
    END IF;
    NEW.user_id := NULL;
    NEW.link_erased_at := NULL;
    RETURN NEW;
END
$$;
CREATE TRIGGER clients_contact_changed BEFORE UPDATE OF phone, email ON clients
    FOR EACH ROW WHEN (OLD.phone IS DISTINCT FROM NEW.phone OR OLD.email IS DISTINCT FROM NEW.email)
    EXECUTE FUNCTION clients_contact_changed();
