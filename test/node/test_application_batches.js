// bgupdate from Node with better-sqlite3, which refuses re-entrant queries
// (so a generic handler, a SQL function that queries its own connection,
// cannot be written): the application-run protocol needs no callback.
// Prints "N passed, N failed" last.
'use strict';
const assert = require('assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const Database = require('better-sqlite3');

const EXTENSION = path.resolve(__dirname, '..', '..', 'sqlite_extension', 'bgupdate.so');
const tests = [];
const test = (name, fn) => tests.push({ name, fn });

function freshDb() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bgupdate-node-'));
  const file = path.join(dir, 'test.db');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.loadExtension(EXTENSION);
  return { db, file, dir };
}

const one = (db, sql, ...params) => db.prepare(sql).pluck().get(...params);
const json = (db, sql, ...params) => JSON.parse(one(db, sql, ...params));

function seed(db, rows) {
  db.exec('CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, b INT)');
  const insert = db.prepare('INSERT INTO t VALUES (?, ?, NULL)');
  db.transaction(() => { for (let i = 1; i <= rows; i++) insert.run(i, i); })();
}

test('a 20k-row backfill written in the application, batch by batch', () => {
  const { db, dir } = freshDb();
  try {
    seed(db, 20000);
    one(db, "SELECT bgupdate_config('default_batch_size', '1000')");
    one(db, "SELECT bgupdate_register_application_update('double_a')");
    one(db, "SELECT bgupdate_enqueue('double_a')");
    const select = db.prepare('SELECT id FROM t WHERE id > ? ORDER BY id LIMIT ?').pluck();
    const update = db.prepare('UPDATE t SET b = a * 2 WHERE id > ? AND id <= ?');
    let batches = 0;
    for (;;) {
      const batch = json(db, 'SELECT bgupdate_batch_begin()');
      if (batch.update_name === null) break;
      assert.strictEqual(batch.update_name, 'double_a');
      const last = batch.progress.last_id || 0;
      const ids = select.all(last, batch.batch_size);
      if (ids.length) update.run(last, ids[ids.length - 1]);
      const done = ids.length < batch.batch_size;
      const out = json(db, 'SELECT bgupdate_batch_end(?, ?, ?)', ids.length,
                       JSON.stringify({ last_id: ids.length ? ids[ids.length - 1] : last }), done ? 1 : 0);
      assert.ok(!out.error, JSON.stringify(out));
      batches++;
      if (out.all_done) break;
    }
    assert.ok(batches > 1, `ran in ${batches} batches`);
    assert.strictEqual(one(db, 'SELECT count(*) FROM t WHERE b = a * 2'), 20000);
    assert.strictEqual(one(db, "SELECT bgupdate_has_completed('double_a')"), 1);
    assert.strictEqual(one(db, "SELECT state FROM bgupdate_status WHERE update_name = 'double_a'"), 'complete');
  } finally {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an exception in the application rolls the batch back and records a failure', () => {
  const { db, dir } = freshDb();
  try {
    seed(db, 10);
    one(db, "SELECT bgupdate_register_application_update('broken')");
    one(db, "SELECT bgupdate_enqueue('broken')");
    json(db, 'SELECT bgupdate_batch_begin()');
    try {
      db.prepare('UPDATE t SET b = -1').run();
      throw new Error('the application found a bad row');
    } catch (e) {
      const out = json(db, 'SELECT bgupdate_batch_fail(?)', e.message);
      assert.match(out.error, /the application found a bad row/);
    }
    assert.strictEqual(one(db, 'SELECT count(*) FROM t WHERE b IS NOT NULL'), 0);
    assert.strictEqual(one(db, "SELECT attempts FROM bgupdate_status WHERE update_name = 'broken'"), 1);
  } finally {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a write lock held by another connection is a lock timeout, not an exception', () => {
  const { db, file, dir } = freshDb();
  const other = new Database(file);
  try {
    seed(db, 10);
    one(db, "SELECT bgupdate_config('lock_timeout_ms', '50')");
    one(db, "SELECT bgupdate_register_application_update('u')");
    one(db, "SELECT bgupdate_enqueue('u')");
    other.exec('BEGIN IMMEDIATE');
    const out = json(db, 'SELECT bgupdate_batch_begin()');
    assert.deepStrictEqual([out.update_name, out.lock_timeout], [null, true]);
    const step = json(db, 'SELECT bgupdate_step()');
    assert.deepStrictEqual([step.update_name, step.lock_timeout], [null, true]);
    other.exec('ROLLBACK');
  } finally {
    other.close();
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a generic handler that throws: its exception reaches the caller, the failure is recorded, and the connection stays sound', () => {
  // better-sqlite3 passes no message to SQLite for a JavaScript exception in
  // a user function: it keeps the exception, throws it from the statement
  // that ran the function, and expects that statement to fail. If it
  // succeeded, the driver would take the next SQLite error on the connection
  // for that exception and drop it (an INSERT of a duplicate key "worked").
  const { db, dir } = freshDb();
  try {
    seed(db, 10);
    db.function('exploding_handler', (progress, batchSize) => { throw new Error('row 7 is bad'); });
    one(db, "SELECT bgupdate_register_update_handler('explodes', 'exploding_handler')");
    one(db, "SELECT bgupdate_enqueue('explodes')");
    assert.throws(() => one(db, 'SELECT bgupdate_step()'), /row 7 is bad/);
    const st = db.prepare("SELECT attempts, last_error FROM bgupdate_status WHERE update_name = 'explodes'").get();
    assert.strictEqual(st.attempts, 1);
    assert.match(st.last_error, /handler function 'exploding_handler' failed: it raised an error and its driver passed no message/);
    assert.throws(() => db.prepare('INSERT INTO t VALUES (1, 1, NULL)').run(), /UNIQUE constraint failed/,
                  'the next SQLite error still reaches JavaScript');
    assert.strictEqual(one(db, 'SELECT count(*) FROM t'), 10);
  } finally {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

let passed = 0, failed = 0;
for (const { name, fn } of tests) {
  try {
    fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}\n  ${e && e.stack ? e.stack.split('\n').join('\n  ') : e}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
