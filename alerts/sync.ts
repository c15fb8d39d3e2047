// Issue 21, for one step: the public surface (contracts/incidents.ts) returns promises, so its
// callers need not change again when the stores move onto the SQL runner; the stores behind it are
// still synchronous SQLite. Internals implement the synchronous twin of a contract and
// alerts/index.ts wraps each call in a promise. Delete this once the internals are asynchronous.

/** T's methods with the promise taken off their result: `(id) => Promise<Incident>` becomes `(id) => Incident`. */
export type Synchronous<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : T[K];
};
