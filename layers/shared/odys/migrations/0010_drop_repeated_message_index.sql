-- Issue 14 (performance): every index is written with each row, and a booking writes two messages. The index
-- messages_professional_client (professional_id, client_id, created_at) opens messages_conversation
-- (professional_id, client_id, created_at DESC, id DESC), which serves each of its queries (equality on the first
-- two columns, created_at either way): one index less to update per message, nothing slower to read.
-- tests/test_schema.py keeps any plain btree from repeating the leading columns of another.
DROP INDEX IF EXISTS messages_professional_client;
