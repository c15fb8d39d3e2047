// Dead letters behind the storage seam (contracts/storage.ts): the SQL of ingest/dead-letters.ts
// as one set of kysely queries for SQLite and PostgreSQL. ingest/dead-letters.ts keeps the
// in-memory queue on the hot path and writes its batches through append().
import { sql, type ExpressionBuilder } from 'kysely';
import type { ErrorCode } from '../contracts/errors.ts';
import type { DeadLetterFilter, DeadLetterStorage } from '../contracts/storage.ts';
import type { SqlRunner } from './sql.ts';
import type { Tables } from './tables.ts';
import { text } from './text.ts';

const ROWS_PER_INSERT = 1_000;

export interface DeadLetterStorageDeps {
  sql: SqlRunner;
}

export function createDeadLetterStorage(deps: DeadLetterStorageDeps): DeadLetterStorage {
  const { q, dialect } = deps.sql;

  function where(eb: ExpressionBuilder<Tables, 'dead_letters'>, filter: DeadLetterFilter) {
    const parts = [];
    if (filter.deviceId !== undefined) parts.push(eb('device_id', '=', filter.deviceId));
    // One parameter, not one per id: a center has thousands of devices (and PostgreSQL's
    // protocol allows at most 65,535 parameters).
    if (filter.deviceIds !== undefined) {
      parts.push(dialect === 'postgres'
        ? sql<boolean>`device_id = ANY(${[...filter.deviceIds]}::text[])`
        : sql<boolean>`device_id IN (SELECT value FROM json_each(${JSON.stringify(filter.deviceIds)}))`);
    }
    if (filter.code !== undefined) parts.push(eb('code', '=', filter.code));
    if (filter.before !== undefined) parts.push(eb('at', '<', filter.before));
    return eb.and(parts);
  }

  return {
    async append(records, keep) {
      if (!Number.isInteger(keep) || keep < 0) throw new RangeError(`keep must be a whole number ≥ 0, got ${keep}`);
      if (!records.length) return;
      const rows = records.map((r) => ({
        at: r.at, device_id: r.deviceId ?? null, topic: text(r.topic), code: r.code, reason: text(r.reason), idx: r.index ?? null, payload: text(r.payload),
      }));
      // A statement carries at most 65,535 parameters on PostgreSQL (32,766 on SQLite): 7 a row,
      // and the write-behind queue flushes up to 50,000 rejects at once.
      const inserts = [];
      for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) inserts.push(q.insertInto('dead_letters').values(rows.slice(i, i + ROWS_PER_INSERT)));
      // Ids only grow, so "the newest `keep`" is an id range: one indexed delete. On PostgreSQL
      // concurrent writers' ids can leave gaps, so a trim may keep a few rows fewer than `keep`.
      const trim = q.deleteFrom('dead_letters').where('id', '<=', sql<number>`(SELECT MAX(id) FROM dead_letters) - ${keep}`);
      await deps.sql.batch([...inserts, trim]);
    },

    async list(filter = {}) {
      const limit = Math.max(1, Math.min(filter.limit ?? 100, 10_000));
      const rows = await deps.sql.all(q.selectFrom('dead_letters').selectAll().where((eb) => where(eb, filter)).orderBy('id', 'desc').limit(limit));
      return rows.map((r) => ({
        id: r.id, at: r.at, deviceId: r.device_id ?? undefined, topic: r.topic, code: r.code as ErrorCode,
        reason: r.reason, index: r.idx ?? undefined, payload: r.payload,
      }));
    },

    async count(filter = {}) {
      const [row] = await deps.sql.all(q.selectFrom('dead_letters').select((eb) => eb.fn.countAll<number>().as('n')).where((eb) => where(eb, filter)));
      return row!.n;
    },
  };
}
