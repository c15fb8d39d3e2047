// The journal: the append-only, group-committed log behind every PUBACK (contracts/journal.ts).
export { createJournal } from './journal.ts';
export type { JournalDeps } from './journal.ts';
export { copyJournalSegments, restoreJournalSegments } from './backup.ts';
export type { SegmentCopy } from './backup.ts';
