/** The --changed-since paragraph of validate, plan and send's help. */
export const CHANGED_SINCE_HELP = `
--changed-since <commit>: only the campaign files added, modified or renamed between that commit
and HEAD (their merge base, as in a pull request), and campaigns whose template or an included
partial changed; within the given paths (default campaigns/). Deleted files are listed, never
sent. Needs the history down to that commit: in a shallow clone, fetch-depth: 0 (or
git fetch --deepen).`;
