import { MarketerError } from '../errors.js';

/**
 * The database lacks this version's schema and the command may not change it (a read-only
 * database user, as a pull request's plan should have). Says who can fix it.
 */
export function schemaNotCurrent(exists: boolean): MarketerError {
  return new MarketerError('SCHEMA_NOT_CURRENT', exists
    ? 'The database schema is not the one this version of marketer expects (it was set up by another version), and this command never changes the schema.'
    : 'The database has no marketer schema yet, and this command never creates it.', {
    hint: 'Run `marketer db migrate` (or the next `marketer apply`) with a database user that may change the schema, e.g. the sending job\'s DATABASE_URL; then run this again.',
  });
}
