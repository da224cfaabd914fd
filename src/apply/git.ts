import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** git in `cwd`, without a shell: commits come from outside (workflow inputs) and stay one argument. */
export async function git(cwd: string, args: string[]): Promise<string> {
  const { stdout } = await run('git', args, { cwd, maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

/** The full sha a commit-ish names, or undefined when this clone does not have it. */
export async function resolveCommit(cwd: string, rev: string): Promise<string | undefined> {
  if (rev.startsWith('-')) return undefined;
  return git(cwd, ['rev-parse', '--verify', '--quiet', `${rev}^{commit}`]).then((s) => s || undefined, () => undefined);
}

/** True when `ancestor` is `descendant` or one of its ancestors (both must be in the clone). */
export async function isAncestor(cwd: string, ancestor: string, descendant: string): Promise<boolean> {
  try {
    await run('git', ['merge-base', '--is-ancestor', ancestor, descendant], { cwd });
    return true;
  } catch {
    // Exit 1 means "not an ancestor"; 128 (a commit this clone lacks) is also a no.
    return false;
  }
}

/** The checked-out branch, or undefined on a detached HEAD. */
export async function currentBranch(cwd: string): Promise<string | undefined> {
  return git(cwd, ['symbolic-ref', '--quiet', '--short', 'HEAD']).then((s) => s || undefined, () => undefined);
}

export async function isShallow(cwd: string): Promise<boolean> {
  return (await git(cwd, ['rev-parse', '--is-shallow-repository']).catch(() => 'false')) === 'true';
}
