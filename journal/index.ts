// The journal: the append-only, group-committed log behind every PUBACK (contracts/journal.ts).
export { createJournal } from './journal.ts';
export type { JournalDeps } from './journal.ts';
export { copyJournalSegments, restoreJournalSegments } from './backup.ts';
export type { SegmentCopy } from './backup.ts';
export { createLogAppender } from './log-appender.ts';
export type { LogAppender, LogAppenderDeps } from './log-appender.ts';
export { createRedisLog } from './redis-log.ts';
export type { RedisLogOptions } from './redis-log.ts';
