// The storage seam's implementations (issue 21 point 2): each store of contracts/storage.ts on
// SQLite or PostgreSQL through one SqlRunner. app/ chooses the runner; modules take the stores.
export { sqliteRunner, postgresRunner, tx, type SqlRunner, type PostgresOptions, type TxBody, type TxStep } from './sql.ts';
export type { Tables } from './tables.ts';
export { migratePostgres, POSTGRES_MIGRATIONS, type PostgresMigration, type PostgresMigrationResult } from './postgres-migrations.ts';
export { createDeadLetterStorage, type DeadLetterStorageDeps } from './dead-letters.ts';
export { createRegistryStorage, type RegistryStorageDeps } from './registry.ts';
export { createOutboxStorage, type OutboxStorageDeps } from './outbox.ts';
export { createUserStorage, type UserStorageDeps } from './users.ts';
export { createLeaseStorage, type LeaseStorageDeps } from './leases.ts';
export { createReportStorage, insertReport, type ReportStorageDeps } from './reports.ts';
export { createReportFacts, type ReportFactsDeps } from './report-facts.ts';
export {
  createEscalationStorage, scheduleSteps, cancelSteps, cancelTreeSteps, digestedOf, type EscalationStorage, type EscalationStorageDeps, type StepOutcome } from './escalations.ts';
export {
  createIncidentStorage, incidentById, insertAudit, touchIncident, toIncident, type IncidentStorageDeps, type IncidentThen, type SqlIncidentStorage } from './incidents.ts';
