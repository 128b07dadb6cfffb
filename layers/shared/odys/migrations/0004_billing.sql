-- Stripe hardening (issue 7): the professional's open Checkout session, so that opening a new one expires it
-- (two sessions paid one after the other would start two subscriptions) and deleting the account expires it
-- (a session paid after the deletion would bill a deleted account). NULL when there is none.
ALTER TABLE professionals ADD COLUMN stripe_checkout_session_id text;
