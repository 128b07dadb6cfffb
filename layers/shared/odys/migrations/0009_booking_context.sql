-- Issue 14 (performance): what a public booking decides on, read right after the professional's row lock, as one
-- PL/pgSQL function. Sent as text, this SELECT was planned anew for every booking (~0.5 ms of planning for its
-- subqueries, more than their execution); inside a function its plan is cached for the session.
-- odys.store.booking.lock_for_booking sends the lock (SELECT ... FOR UPDATE) and then this, in one round trip:
-- a statement of its own, so its snapshot holds every booking committed while the lock was awaited.
--   windows        [[day_of_week, "HH:MM:SS", "HH:MM:SS"], ...]   the weekly availability
--   busy           "start end start end ..." (epoch seconds)       active appointments around the slot, its buffer
--                                                                   included (the exclusion constraint's index)
--   client         {id, name, phone, email} | null                 the client with this phone
--   client_count   the clients on file; month_count: appointments (not cancelled) in the slot's local month
--   idempotency    {request_hash, appointment_id} | null           the live Idempotency-Key row
--   pix_connected  whether the professional has a PSP connection
CREATE FUNCTION booking_context(p_slug text, p_starts timestamptz, p_phone text, p_key text, p_now timestamptz)
RETURNS TABLE (windows json, busy text, client json, client_count bigint, month_count bigint, idempotency json,
               pix_connected boolean)
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN QUERY
  SELECT
    (SELECT coalesce(json_agg(json_build_array(v.day_of_week, v.start_time::text, v.end_time::text)
                              ORDER BY v.day_of_week, v.start_time), '[]')
       FROM availability v WHERE v.professional_id = p.id),
    (SELECT coalesce(string_agg(extract(epoch FROM a.starts_at)::bigint || ' ' || extract(epoch FROM a.ends_at)::bigint,
                                ' '), '')
       FROM appointments a WHERE a.professional_id = p.id AND a.status IN ('pending', 'confirmed')
        AND tstzrange(a.starts_at, a.ends_at, '[)') && tstzrange(
            p_starts - make_interval(mins => p.buffer_minutes),
            p_starts + make_interval(mins => p.session_duration_minutes + p.buffer_minutes), '[)')),
    (SELECT json_build_object('id', c.id, 'name', c.name, 'phone', c.phone, 'email', c.email)
       FROM clients c WHERE c.professional_id = p.id AND c.phone = p_phone),
    (SELECT count(*) FROM clients c WHERE c.professional_id = p.id),
    (SELECT count(*) FROM appointments a WHERE a.professional_id = p.id AND a.status <> 'cancelled'
        AND a.starts_at >= (date_trunc('month', p_starts AT TIME ZONE p.timezone) AT TIME ZONE p.timezone)
        AND a.starts_at < ((date_trunc('month', p_starts AT TIME ZONE p.timezone) + interval '1 month')
                           AT TIME ZONE p.timezone)),
    (SELECT json_build_object('request_hash', k.request_hash, 'appointment_id', k.appointment_id)
       FROM idempotency_keys k WHERE k.professional_id = p.id AND k.key = p_key AND k.expires_at > p_now),
    EXISTS (SELECT 1 FROM pix_connections x WHERE x.professional_id = p.id)
  FROM professionals p WHERE p.slug = p_slug;
END
$$;
