-- Accent-insensitive client search (GET /api/clients?q=joao finds "João"). unaccent is a trusted contrib
-- extension (PostgreSQL >= 13, also on RDS/Aurora), so the migration role can create it.
CREATE EXTENSION IF NOT EXISTS unaccent;
