import { inputError } from '../errors.js';
import { isAncestor, isShallow, resolveCommit } from './git.js';

/** Where an apply starts, and why. */
export interface ApplyRange {
  branch: string;
  head: string;
  /** The commit compared against: the applied commit, or --since. */
  base: string;
  /** The commit the ledger had recorded for the branch before this run (undefined: none yet). */
  recorded: string | undefined;
  /**
   * applied: from the recorded commit (an ancestor of HEAD); since: from --since (first run, or
   * the recorded commit is not in HEAD's history); behind: HEAD is older than the recorded
   * commit (a late run of an earlier push), so there is nothing to apply.
   */
  from: 'applied' | 'since' | 'behind';
  /** --since was given and not used, because the recorded commit is the base. */
  sinceIgnored: boolean;
}

export interface ApplyRangeInput {
  /** Folder git runs in. */
  root: string;
  branch: string;
  head: string;
  recorded: string | undefined;
  since: string | undefined;
}

const short = (sha: string) => sha.slice(0, 12);

/**
 * The base of an apply. The recorded commit wins whenever it is in HEAD's history: the workflow
 * always passes the push's `before` as --since, and a run that was lost must not narrow what the
 * next one sends. --since is the base only for the first run on a branch, or after a force push
 * or rewrite took the recorded commit out of HEAD's history.
 */
export async function resolveApplyRange(o: ApplyRangeInput): Promise<ApplyRange> {
  const since = o.since?.trim() || undefined;
  const range = (base: string, from: ApplyRange['from'], sinceIgnored: boolean): ApplyRange => ({ branch: o.branch, head: o.head, base, recorded: o.recorded, from, sinceIgnored });
  if (o.recorded) {
    if (await isAncestor(o.root, o.recorded, o.head)) return range(o.recorded, 'applied', since !== undefined);
    if (await resolveCommit(o.root, o.recorded)) {
      // A run that checked out an older commit than the ledger has applied (a push run that
      // started after a later scheduled run) applies nothing: going back would undo a newer merge.
      if (await isAncestor(o.root, o.head, o.recorded)) return range(o.recorded, 'behind', since !== undefined);
    } else if (await isShallow(o.root)) {
      throw inputError('SHALLOW_CLONE', `The applied commit ${short(o.recorded)} of branch ${o.branch} is not in this clone, because it is a shallow clone.`, {
        hint: 'Fetch the history: in GitHub Actions set `fetch-depth: 0` on actions/checkout.',
      });
    }
    if (!since) {
      throw inputError('NOT_AN_ANCESTOR', `The applied commit ${o.recorded} of branch ${o.branch} is not an ancestor of HEAD ${o.head} (was the branch force-pushed or its history rewritten?), so apply cannot tell what changed.`, {
        hint: `Pass --since <commit>: the commit of this history to compare with, e.g. the last commit before the rewrite whose campaigns were sent. Campaigns already sent are never sent twice.`,
      });
    }
    return range(await sinceCommit(o.root, since), 'since', false);
  }
  if (!since) {
    throw inputError('FIRST_APPLY', `Nothing has been applied on branch ${o.branch} yet, so apply does not know which campaigns are new.`, {
      hint: `Pass --since <commit> once: campaigns added or changed after it are sent (e.g. --since ${short(o.head)} to send only what is merged from now on). Later runs start from the commit apply records.`,
    });
  }
  return range(await sinceCommit(o.root, since), 'since', false);
}

async function sinceCommit(root: string, since: string): Promise<string> {
  if (/^0+$/.test(since)) {
    // GitHub sends forty zeros as `before` when a push creates the branch.
    throw inputError('NO_BASE_COMMIT', `--since got the null commit ${since}: there is nothing to compare with (a push that created the branch has no "before").`, {
      hint: 'Pass --since <commit> with a commit of this branch, e.g. the one before the first campaign you want sent.',
    });
  }
  const sha = await resolveCommit(root, since);
  if (sha) return sha;
  if (await isShallow(root)) {
    throw inputError('SHALLOW_CLONE', `--since ${since} is not in this clone, because it is a shallow clone.`, { hint: 'In GitHub Actions set `fetch-depth: 0` on actions/checkout.' });
  }
  throw inputError('UNKNOWN_COMMIT', `--since ${since} is not a commit of this repository.`, { hint: 'Pass a sha, a branch such as origin/main, or a tag; `git fetch` first if it came from elsewhere.' });
}
