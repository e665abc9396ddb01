-- Least privilege: two ordinary roles, each managing only its own updates;
-- an update runs as the role that registered it, with its search_path.
CREATE EXTENSION IF NOT EXISTS bgupdate;
SELECT bgupdate.set_enabled(true);
CREATE ROLE regress_alice LOGIN;
CREATE ROLE regress_bob LOGIN;
GRANT CREATE ON SCHEMA public TO regress_alice, regress_bob;
CREATE SCHEMA alice_app AUTHORIZATION regress_alice;

SET ROLE regress_alice;
CREATE TABLE alice_app.items (id int PRIMARY KEY, v int);
INSERT INTO alice_app.items SELECT g, 0 FROM generate_series(1, 50) g;
-- Registered with alice_app on the search_path: the batch uses it later.
SET search_path = alice_app, public;
SELECT bgupdate.register_batched_update('alice_fill', 'items', ARRAY['id'], 'v = id');
SELECT bgupdate.enqueue('alice_fill');
RESET search_path;
SELECT owner::regrole, search_path FROM bgupdate.update_registry WHERE update_name = 'alice_fill';
RESET ROLE;

SET ROLE regress_bob;
CREATE TABLE bob_secret (id int PRIMARY KEY, secret text);
INSERT INTO bob_secret VALUES (1, 'bob''s secret');
SELECT bgupdate.register_batched_update('bob_fill', 'bob_secret', ARRAY['id'], 'secret = upper(secret)');
SELECT bgupdate.enqueue('bob_fill');
-- Bob sees and runs only his own updates.
SELECT update_name FROM bgupdate.status ORDER BY 1;
SELECT s->>'update_name' AS ran FROM bgupdate.step() s;
SELECT s->>'update_name' AS ran, s->'all_done' AS all_done FROM bgupdate.step() s;
-- He cannot pause, finish, retry, re-register or end alice's update ...
SELECT bgupdate.pause('alice_fill');
SELECT bgupdate.finish('alice_fill');
SELECT bgupdate.retry('alice_fill');
SELECT bgupdate.register_batched_update('alice_fill', 'bob_secret', ARRAY['id'], 'secret = NULL');
SELECT bgupdate.update_progress('alice_fill', '{"lower_bound": [49]}');
SELECT bgupdate.end_update('alice_fill');
-- ... nor change its rows behind the API's back (row-level security).
UPDATE bgupdate.background_updates SET progress_json = '{"lower_bound": [49]}' WHERE update_name = 'alice_fill';
DELETE FROM bgupdate.background_updates WHERE update_name = 'alice_fill';
UPDATE bgupdate.update_registry SET owner = 'regress_bob'::regrole WHERE update_name = 'alice_fill';
INSERT INTO bgupdate.update_registry VALUES ('sneaky', 'batched_update', '{}', 'regress_alice'::regrole, '', 'now');
-- Only the extension's owner flips the admin switch.
SELECT bgupdate.set_enabled(false);
RESET ROLE;
SELECT progress_json FROM bgupdate.background_updates WHERE update_name = 'alice_fill';

-- Alice runs her own update; it ran as alice with her search_path.
SET ROLE regress_alice;
SELECT bgupdate.finish('alice_fill');
SELECT sum(v) FROM alice_app.items;
-- An update can do nothing its owner could not: alice's handler reading
-- bob's table fails. A superuser's session does not run alice's code at all
-- (a session runs only its own role's updates; finish() would wait for the
-- worker, which is off here).
CREATE FUNCTION public.alice_sneaky(progress jsonb, batch_size int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    PERFORM * FROM public.bob_secret;
    PERFORM bgupdate.end_update('alice_sneaky');
    RETURN 1;
END $$;
SELECT bgupdate.register_update_handler('alice_sneaky', 'public.alice_sneaky');
SELECT bgupdate.enqueue('alice_sneaky');
RESET ROLE;
SELECT current_user;
SELECT bgupdate.finish('alice_sneaky');
SET ROLE regress_alice;
SELECT bgupdate.finish('alice_sneaky');
RESET ROLE;
SELECT update_name, state, last_error FROM bgupdate.status WHERE update_name = 'alice_sneaky';
SELECT secret FROM bob_secret;
-- The superuser sees everything.
SELECT update_name, state FROM bgupdate.status WHERE update_name LIKE '%fill' OR update_name LIKE 'alice%' ORDER BY 1;
DELETE FROM bgupdate.background_updates WHERE update_name = 'alice_sneaky';
-- Roles are cluster-wide and outlive the test database: drop them, so the
-- suite runs again on the same server (make installcheck).
DROP OWNED BY regress_alice, regress_bob;
DROP ROLE regress_alice, regress_bob;
