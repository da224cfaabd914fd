import type { Kysely } from 'kysely';
import type { Database } from '../db/types.js';

/** The commit the ledger last applied on `branch`, if any. */
export async function appliedCommit(db: Kysely<Database>, branch: string): Promise<string | undefined> {
  const row = await db.selectFrom('applied_commits').select('commit_sha').where('branch', '=', branch).executeTakeFirst();
  return row?.commit_sha;
}

export type RecordOutcome =
  /** HEAD is now the applied commit. */
  | 'recorded'
  /** It already was (a re-run, or a concurrent run got there first). */
  | 'unchanged'
  /** A newer commit is recorded (a later run finished first); it stays. */
  | 'kept-newer';

/**
 * Record `head` as applied on `branch`, only moving forward. The row is locked while deciding, so
 * of two runs finishing at once the one with the newer HEAD wins whatever the order: a run whose
 * HEAD is an ancestor of the recorded commit leaves it alone. `isAncestor(a, b)` asks git.
 * After a force push (the recorded commit is not in HEAD's history either way) HEAD replaces it:
 * the branch as it is now is the desired state.
 */
export async function recordAppliedCommit(
  db: Kysely<Database>,
  branch: string,
  head: string,
  isAncestor: (ancestor: string, descendant: string) => Promise<boolean>,
): Promise<RecordOutcome> {
  return db.transaction().execute(async (trx) => {
    const inserted = await trx.insertInto('applied_commits').values({ branch, commit_sha: head, applied_at: new Date() })
      .onConflict((oc) => oc.column('branch').doNothing()).returning('branch').executeTakeFirst();
    if (inserted) return 'recorded';
    const row = await trx.selectFrom('applied_commits').select('commit_sha').where('branch', '=', branch).forUpdate().executeTakeFirstOrThrow();
    if (row.commit_sha === head) return 'unchanged';
    if (await isAncestor(head, row.commit_sha)) return 'kept-newer';
    await trx.updateTable('applied_commits').set({ commit_sha: head, applied_at: new Date() }).where('branch', '=', branch).execute();
    return 'recorded';
  });
}
