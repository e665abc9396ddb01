-- pgTAP, adversarial: SQL fragments that smuggle
-- a second statement or swallow the key range, keys that may be NULL or
-- repeat, and values that used to be accepted and did the wrong thing. Each
-- attempt is refused with a clear error (or made harmless) and no data changed.
BEGIN;
CREATE EXTENSION IF NOT EXISTS bgupdate;
SELECT plan(66);

SET bgupdate.default_batch_size = 10;
SET bgupdate.retry_backoff_ms = 0;
SET bgupdate.sleep_enabled = off;
CREATE TABLE t (id bigint PRIMARY KEY, v int);
INSERT INTO t SELECT g, NULL FROM generate_series(1, 40) g;
ANALYZE t;
CREATE TABLE keep (x int);
INSERT INTO keep VALUES (1);
CREATE FUNCTION untouched() RETURNS boolean LANGUAGE sql
    AS $$ SELECT (SELECT count(*) FROM t) = 40 AND (SELECT count(*) FROM t WHERE v IS NOT NULL) = 0 $$;
CREATE FUNCTION registered(name text) RETURNS boolean LANGUAGE sql
    AS $$ SELECT EXISTS (SELECT 1 FROM bgupdate.update_registry WHERE update_name = name) $$;

-- ------------------------------------------------ smuggled statements
SELECT throws_like($$SELECT bgupdate.register_batched_update('x', 't', ARRAY['id'], 'v = 1',
                        'TRUE); DELETE FROM t WHERE id > 18; SELECT (1')$$,
                   '%where_clause of ''x''%', 'a where_clause holding a DELETE is refused');
SELECT ok(untouched(), '... and the DELETE did not run at registration');
SELECT ok(NOT registered('x'), '... nothing was registered');

SELECT throws_like($$SELECT bgupdate.register_batched_update('x', 't', ARRAY['id'], 'v = 1; DELETE FROM t')$$,
                   '%set_clause of ''x''%'';''%', 'a set_clause holding a second statement is refused');
SELECT ok(untouched(), '... and nothing ran');

SELECT throws_like($$SELECT bgupdate.register_index_update('i', 't_v', 't', ARRAY['v'], 'v > 0; BEGIN')$$,
                   '%where_clause of ''i''%', 'an index where_clause holding BEGIN is refused at registration');
SELECT ok(NOT registered('i'), '... nothing was registered');

SELECT throws_like($$SELECT bgupdate.register_batched_update('x', 't', ARRAY['id'], 'v = 1', 'TRUE) OR (TRUE')$$,
                   '%closes a parenthesis%', 'a condition may not close the parenthesis around it');
SELECT throws_like($$SELECT bgupdate.register_batched_update('x', 't', ARRAY['id'], 'v = 1 WHERE id = 5')$$,
                   '%set_clause of ''x''%WHERE clause%', 'a SET list may not hold a WHERE clause');
SELECT throws_like($$SELECT bgupdate.register_batched_update('x', 't', ARRAY['id'], 'v = 1 FROM keep')$$,
                   '%set_clause of ''x''%FROM clause%', '... nor a FROM clause');
SELECT throws_like($$SELECT bgupdate.register_batched_update('x', 't', ARRAY['id'], 'v = 1 RETURNING id')$$,
                   '%set_clause of ''x''%RETURNING%', '... nor RETURNING');
SELECT throws_like($$SELECT bgupdate.register_batched_update('x', 't', ARRAY['id'], 'v = 1 /* swallow')$$,
                   '%unterminated comment%', 'an unterminated comment is refused');
SELECT throws_like($$SELECT bgupdate.register_batched_update('x', 't', ARRAY['id'], 'v = $q$ open')$$,
                   '%unterminated dollar-quoted string%', 'an unterminated dollar quote is refused');
SELECT throws_like($$SELECT bgupdate.register_batched_update('x', 't', ARRAY['id'], 'v = 1', 'id IN (SELECT 1) UNION SELECT 2')$$,
                   '%where_clause of ''x''%', 'a condition may not be a query');
SELECT throws_like($$SELECT bgupdate.register_batched_update('x', 't', ARRAY['id'], 'nosuch = 1')$$,
                   '%set_clause of ''x''%nosuch%', 'a typo in the SET list still fails at registration');
SELECT throws_like($$SELECT bgupdate.register_batched_update('x', 't', ARRAY['id'], 'v = 1', 'nosuch > 0')$$,
                   '%where_clause of ''x''%nosuch%', 'a typo in the condition still fails at registration');
SELECT throws_like($$SELECT bgupdate.register_batched_update('x', 't', ARRAY['id'], 'v = 1', 'id + 1')$$,
                   '%where_clause of ''x''%boolean%', 'a condition must be boolean');
SELECT throws_like($$SELECT bgupdate.register_index_update('i', 't_v', 't', ARRAY['v'], 'v > random()')$$,
                   '%IMMUTABLE%', 'an index predicate must be immutable');
SELECT ok(untouched() AND NOT registered('x') AND NOT registered('i'), 'none of the above changed or registered anything');

-- A trailing comment is harmless: batches keep to their key range and filter.
SELECT lives_ok($$SELECT bgupdate.register_batched_update('c', 't', ARRAY['id'], 'v = 1 --', 'id % 2 = 0 --')$$,
                'fragments ending in a line comment register');
SELECT ok(untouched(), '... registration changed no row');
SELECT bgupdate.enqueue('c');
SELECT is((bgupdate.step())->>'update_name', 'c', 'a batch runs');
SELECT is((SELECT array_agg(id ORDER BY id) FROM t WHERE v = 1), ARRAY[2, 4, 6, 8, 10]::bigint[],
          '... and touched only even ids of its key range');
SELECT lives_ok($$SELECT bgupdate.finish('c')$$, 'the update finishes');
SELECT is((SELECT count(*) FROM t WHERE v = 1 AND id % 2 = 1), 0::bigint, '... never touching odd ids');
UPDATE t SET v = NULL;

-- A registry row written directly (bypassing registration's checks) fails at run time.
INSERT INTO bgupdate.update_registry (update_name, kind, spec_json, owner, search_path, registered_at)
VALUES ('raw', 'batched_update', '{"table": "t", "key_columns": ["id"], "set_clause": "v = 1",
        "where_clause": "TRUE); DELETE FROM t WHERE id > 18; SELECT (1"}', (SELECT oid FROM pg_roles WHERE rolname = current_user), 'public', now()::text);
SELECT bgupdate.enqueue('raw');
SELECT matches((bgupdate.step())->>'error', 'where_clause of ''raw''', 'a stored smuggled statement fails the batch');
SELECT ok(untouched(), '... and ran nothing');
SELECT bgupdate.pause('raw');
-- Lexically one piece, but a FROM the parser refuses: checked by the parser before every batch too.
INSERT INTO bgupdate.update_registry (update_name, kind, spec_json, owner, search_path, registered_at)
VALUES ('rawfrom', 'batched_update', '{"table": "t", "key_columns": ["id"], "set_clause": "v = x.w FROM (SELECT 42 AS w) AS x"}',
        (SELECT oid FROM pg_roles WHERE rolname = current_user), 'public', now()::text);
SELECT bgupdate.enqueue('rawfrom');
SELECT matches((bgupdate.step())->>'error', 'set_clause of ''rawfrom'' is not valid.*FROM',
               'a stored fragment the parser refuses fails the batch');
SELECT ok(untouched(), '... and ran nothing');
SELECT bgupdate.pause('rawfrom');

-- With standard_conforming_strings off, 'a\'' ends early: the delta splitter
-- sees one statement where PostgreSQL sees three. The engine counts with
-- PostgreSQL's parser and refuses to run them, so the DROP never runs.
SET standard_conforming_strings = off;
SET escape_string_warning = off;
SELECT throws_like($$SELECT bgupdate.apply_schema_delta(1, 'sneaky.sql',
                        'SELECT ''a' || chr(92) || ''''' ; DROP TABLE keep; SELECT 1 -- ''')$$,
                   '%refusing to run 3 statements as one%', 'a delta hiding a second statement from the splitter is refused');
SELECT throws_like($$SELECT bgupdate.register_batched_update('x', 't', ARRAY['id'], 'v = 1',
                        'v = ''a' || chr(92) || ''''' ) OR (TRUE OR v = ''''''')$$,
                   '%standard_conforming_strings%', 'a fragment whose strings depend on standard_conforming_strings is refused');
RESET escape_string_warning;
RESET standard_conforming_strings;
SELECT is((SELECT count(*) FROM keep), 1::bigint, '... and the bystander table survived');

-- ---------------------------------------------------- keys
CREATE TABLE n (k int UNIQUE, v int);
CREATE TABLE d (id int PRIMARY KEY, g int NOT NULL, e int NOT NULL, v int);
CREATE UNIQUE INDEX d_e_partial ON d (e) WHERE e > 0;
CREATE UNIQUE INDEX d_g_expr ON d ((g + 0));
CREATE TABLE u (a text NOT NULL, b int NOT NULL, c int NOT NULL, v int, UNIQUE (a) INCLUDE (c));
SELECT throws_like($$SELECT bgupdate.register_batched_update('k', 'n', ARRAY['k'], 'v = 1')$$,
                   '%column ''k''%may hold NULL%', 'a nullable key is refused');
SELECT throws_like($$SELECT bgupdate.register_batched_update('k', 'd', ARRAY['e'], 'v = 1')$$,
                   '%must be unique%', 'a key unique only through a partial index is refused');
SELECT throws_like($$SELECT bgupdate.register_batched_update('k', 'd', ARRAY['g'], 'v = 1')$$,
                   '%must be unique%', 'a key unique only through an expression index is refused');
SELECT throws_like($$SELECT bgupdate.register_batched_update('k', 'u', ARRAY['c'], 'v = 1')$$,
                   '%must be unique%', 'an INCLUDE column of a unique index is no key');
SELECT lives_ok($$SELECT bgupdate.register_batched_update('k1', 'd', ARRAY['id'], 'v = 1')$$, 'a primary key passes');
SELECT lives_ok($$SELECT bgupdate.register_batched_update('k2', 'u', ARRAY['a', 'b'], 'v = 1')$$,
                'a key holding all the columns of a unique index passes');
SELECT throws_like($$SELECT bgupdate.register_validate_constraint_and_delete_rows('c1', 'n', 'n_nn',
                        '{"not_null": "v"}', ARRAY['k'])$$,
                   '%unique_columns of ''c1''%may hold NULL%', 'unique_columns follow the same rule');

-- --------------------------------------- no silent wrong accepts
UPDATE bgupdate.update_state SET paused = true;
CREATE FUNCTION null_handler(jsonb, int) RETURNS int LANGUAGE sql AS 'SELECT NULL::int';
CREATE FUNCTION negative_handler(jsonb, int) RETURNS int LANGUAGE sql AS 'SELECT -5';
CREATE FUNCTION max_handler(jsonb, int) RETURNS bigint LANGUAGE sql AS 'SELECT 9223372036854775807';
SELECT bgupdate.register_update_handler('h_null', 'null_handler');
SELECT bgupdate.enqueue('h_null', -10);
SELECT matches((bgupdate.step())->>'error', 'null_handler.*returned NULL', 'a handler returning NULL is an error');
SELECT bgupdate.pause('h_null');
SELECT bgupdate.register_update_handler('h_neg', 'negative_handler');
SELECT bgupdate.enqueue('h_neg', -10);
SELECT matches((bgupdate.step())->>'error', 'negative', 'a negative count is an error');
SELECT bgupdate.pause('h_neg');
SELECT bgupdate.register_update_handler('h_max', 'max_handler');
SELECT bgupdate.enqueue('h_max', -10);
SELECT is((bgupdate.step())->>'error', NULL, 'INT64_MAX items once is a count');
SELECT matches((bgupdate.step())->>'error', 'overflows', '... twice overflows the total: an error');
SELECT is((SELECT items_done FROM bgupdate.status WHERE update_name = 'h_max'), 9223372036854775807::bigint,
          '... and items_done did not wrap');
SELECT bgupdate.pause('h_max');

CREATE FUNCTION nan_hook(text) RETURNS float8 LANGUAGE sql AS $$ SELECT 'NaN'::float8 $$;
CREATE FUNCTION huge_hook(text) RETURNS float8 LANGUAGE sql AS $$ SELECT 1e30::float8 $$;
SELECT bgupdate.register_batched_update('b', 't', ARRAY['id'], 'v = 1');
SELECT bgupdate.enqueue('b', -10);
SET bgupdate.duration_hook = 'nan_hook';
SELECT matches((bgupdate.step())->>'error', 'nan_hook', 'a NaN hook value is an error');
RESET bgupdate.duration_hook;
SET bgupdate.default_batch_size_hook = 'huge_hook';
SELECT matches((bgupdate.step())->>'error', 'too large', 'a batch size too large for an integer is an error');
RESET bgupdate.default_batch_size_hook;
SELECT ok(untouched(), '... and the batches did nothing');
SELECT bgupdate.pause('b');
-- A hook another role owns, that changes a session setting, then returns or
-- fails: it runs as its owner, the caller is itself again afterwards, nothing
-- the hook set outlives it, and its failure is the batch's error.
CREATE ROLE bgupdate_hook_owner;
CREATE FUNCTION setting_hook(text) RETURNS float8 LANGUAGE plpgsql AS $$
BEGIN
    IF current_user <> 'bgupdate_hook_owner' THEN RAISE EXCEPTION 'the hook ran as %', current_user; END IF;
    PERFORM pg_catalog.set_config('work_mem', '77MB', false);
    RETURN NULL;
END $$;
CREATE FUNCTION failing_setting_hook(text) RETURNS float8 LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_catalog.set_config('work_mem', '77MB', false); RAISE EXCEPTION 'the hook gives up'; END $$;
ALTER FUNCTION setting_hook(text) OWNER TO bgupdate_hook_owner;
ALTER FUNCTION failing_setting_hook(text) OWNER TO bgupdate_hook_owner;
CREATE TABLE hk_rows (id bigint PRIMARY KEY, v int);
INSERT INTO hk_rows SELECT g, NULL FROM generate_series(1, 40) g;
SELECT bgupdate.register_batched_update('hk', 'hk_rows', ARRAY['id'], 'v = 1');
SELECT bgupdate.enqueue('hk', -10);
SET work_mem = '5MB';
SET bgupdate.duration_hook = 'setting_hook';
SELECT is((bgupdate.step())->>'error', NULL, 'a hook runs as the role that owns it');
SELECT is(current_setting('work_mem'), '5MB', 'a session setting a hook changed does not outlive the hook');
SELECT is(current_user::text, session_user::text, '... and the caller is itself again after its owner ran it');
SET bgupdate.duration_hook = 'failing_setting_hook';
SELECT matches((bgupdate.step())->>'error', 'the hook gives up', 'a failing hook fails the batch with its error');
SELECT is(current_setting('work_mem'), '5MB', '... and what it set does not outlive it either');
SELECT is(current_user::text, session_user::text, '... nor the role it ran as');
RESET bgupdate.duration_hook;
RESET work_mem;
SELECT bgupdate.pause('hk');

SELECT bgupdate.register_batched_update('lb1', 't', ARRAY['id'], 'v = 1');
SELECT bgupdate.enqueue('lb1', -10, NULL, '{"lower_bound": [null]}');
SELECT matches((bgupdate.step())->>'error', 'lower_bound.*null', 'a lower_bound of [null] is an error');
SELECT ok(NOT bgupdate.has_completed('lb1'), '... not complete with 0 rows');
SELECT bgupdate.pause('lb1');
SELECT bgupdate.register_batched_update('lb2', 't', ARRAY['id'], 'v = 1');
SELECT bgupdate.enqueue('lb2', -10, NULL, '{"lower_bound": [1, 2]}');
SELECT matches((bgupdate.step())->>'error', 'lower_bound.*2 values', 'a lower_bound of the wrong arity is an error');
SELECT bgupdate.pause('lb2');
SELECT bgupdate.register_batched_update('lb3', 't', ARRAY['id'], 'v = 1');
SELECT bgupdate.enqueue('lb3', -10, NULL, '{"lower_bound": ["abc"]}');
SELECT ok((bgupdate.step())->>'error' IS NOT NULL AND NOT bgupdate.has_completed('lb3'),
          'a lower_bound of the wrong type is an error');
SELECT ok(untouched(), '... and no bad bound changed a row');
SELECT throws_like($$SELECT bgupdate.enqueue('e', 0, '')$$, '%depends_on%',
                   'an empty depends_on (which no update has) is refused');
SELECT is((SELECT count(*) FROM keep), 1::bigint, 'the bystander table is intact');

-- ------------------------------------------------ keys are bound values
-- A batch binds its keys to its statements' placeholders: keys of any
-- content are values; text ones take the key column's type (uuid, varchar)
-- as a literal would; a fragment cannot name a bound value.
CREATE TABLE tk (name text PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO tk(name) VALUES ('o''brien'), ('it''''s'), ('a"b"'), ('ünïcødé ✓ 😀'), ('$1'), ('?1'),
    ('-- not a comment'), ('x''); DROP TABLE tk; --'), (''), (' '), (E'\\'), ('NULL');
SELECT bgupdate.register_batched_update('k_text', 'tk', ARRAY['name'], 'n = n + 1');
SELECT bgupdate.enqueue('k_text');
SELECT bgupdate.finish('k_text');
SELECT is((SELECT count(*) FROM tk WHERE n = 1), 12::bigint,
          'text keys with quotes, unicode and placeholder look-alikes are each done once');
CREATE TABLE tu (id uuid PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO tu(id) SELECT md5(g::text)::uuid FROM generate_series(1, 35) g;
SELECT bgupdate.register_batched_update('k_uuid', 'tu', ARRAY['id'], 'n = n + 1');
SELECT bgupdate.enqueue('k_uuid');
SELECT bgupdate.finish('k_uuid');
SELECT is((SELECT count(*) FROM tu WHERE n = 1), 35::bigint, 'uuid keys are bound as uuid');
CREATE TABLE tc (g int NOT NULL, name varchar(40) NOT NULL, extra text, n int NOT NULL DEFAULT 0,
                 PRIMARY KEY (g, name));
INSERT INTO tc(g, name, extra) SELECT a.g, b.x, CASE WHEN a.g % 2 = 0 THEN b.x END
    FROM (VALUES (-5), (0), (2000000000)) AS a(g), (SELECT name AS x FROM tk) AS b;
SELECT bgupdate.register_batched_update('k_comp', 'tc', ARRAY['g', 'name'], 'n = n + 1',
                                        'extra IS NULL OR extra IS NOT NULL');
SELECT bgupdate.enqueue('k_comp');
SELECT bgupdate.finish('k_comp');
SELECT is((SELECT count(*) FROM tc WHERE n = 1), 36::bigint,
          'an (integer, varchar) key with NULLs beside it: every row done once');
SELECT is((SELECT count(*) FROM tc WHERE n <> 1), 0::bigint, '... and none twice');
SELECT throws_like($$SELECT bgupdate.register_batched_update('x', 't', ARRAY['id'], 'v = $1')$$,
                   '%set_clause of ''x''%$1%', 'a SET list cannot name a bound value ($1)');
SELECT throws_like($$SELECT bgupdate.register_batched_update('x', 't', ARRAY['id'], 'v = 1', 'id > $2')$$,
                   '%where_clause of ''x''%$2%', '... nor can a condition');

SELECT * FROM finish();
ROLLBACK;
