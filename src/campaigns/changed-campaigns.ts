import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { inputError, MarketerError } from '../errors.js';
import { readConfined } from './confined-file.js';

const run = promisify(execFile);

export type CampaignChange = 'added' | 'modified' | 'renamed' | 'template' | 'segment';

export interface ChangedCampaign {
  /** Absolute path of the campaign file as it is now. */
  file: string;
  /** Relative to the config root, with `/`. */
  relFile: string;
  change: CampaignChange;
  /** For `renamed`: the path before (relative to the root). */
  from?: string;
  /** For `template`: the changed template or partial files it uses; for `segment`: the changed segment file. */
  via?: string[];
}

export interface ChangedCampaigns {
  /** The commit compared against (full sha), i.e. the merge base of `base` and HEAD. */
  base: string;
  head: string;
  campaigns: ChangedCampaign[];
  /** Campaign files removed since the base; nothing is sent for them, but a summary says so. */
  deleted: string[];
}

export interface ChangedCampaignsOptions {
  /** Folder holding marketer.yaml: paths are relative to it and git runs there. */
  root: string;
  /** A commit-ish: the pull request's base sha, or the commit before a push. */
  base: string;
  /**
   * Campaign files or folders to consider, relative to `root` or absolute (default: campaigns/).
   * A changed file outside them is not a campaign.
   */
  scope?: string[];
}

const CAMPAIGN_FILE = /\.ya?ml$/i;
const INCLUDE = /<mj-include\b[^>]*\bpath\s*=\s*["']([^"']+)["']/g;

/**
 * The campaign files added, modified or renamed between `base` and HEAD (committed changes
 * only, so CI and a laptop agree), plus the campaigns whose template or an included partial
 * changed. Compares against the merge base, as a pull request's diff does, so commits that
 * landed on the base branch meanwhile are not counted as the PR's.
 */
export async function changedCampaigns(o: ChangedCampaignsOptions): Promise<ChangedCampaigns> {
  const root = path.resolve(o.root);
  const base = o.base.trim();
  if (base === '' || /^0+$/.test(base)) {
    // GitHub sends forty zeros as `before` when a push creates the branch: there is no commit to
    // compare with, and "everything" would send every campaign in the repository.
    throw inputError('NO_BASE_COMMIT', `--changed-since got ${base === '' ? 'an empty commit' : `the null commit ${base}`}: there is nothing to compare with (a push that created the branch has no "before").`, {
      hint: 'Name the campaign files to use instead, e.g. marketer send campaigns/launch.yaml',
    });
  }
  if (base.startsWith('-')) throw inputError('BAD_OPTION', `--changed-since takes a commit, got "${base}".`);
  await git(root, ['rev-parse', '--git-dir']).catch((err: unknown) => {
    throw inputError('NOT_A_GIT_REPOSITORY', `--changed-since needs a git repository, and ${root} is not in one.`, { cause: err, hint: 'run it inside the campaigns repository\'s checkout' });
  });
  const head = (await git(root, ['rev-parse', '--verify', 'HEAD^{commit}'])).trim();
  const resolved = await git(root, ['rev-parse', '--verify', '--quiet', `${base}^{commit}`]).then((s) => s.trim(), () => undefined);
  if (!resolved) throw await missingHistory(root, `commit ${base} is not in this clone`);
  const mergeBase = await git(root, ['merge-base', resolved, head]).then((s) => s.trim(), () => undefined);
  if (!mergeBase) throw await missingHistory(root, `commit ${base} and HEAD have no common ancestor in this clone`);

  // -z: paths verbatim (no quoting of unusual names); -M: a moved file is one rename, not a
  // delete and an add; --relative: only paths under the root, relative to it.
  const out = await git(root, ['diff', '--name-status', '-z', '-M', '--relative', '--no-ext-diff', mergeBase, head]);
  const entries = parseNameStatus(out);
  const inScope = scopeMatcher(root, o.scope);

  const campaigns = new Map<string, ChangedCampaign>();
  const deleted: string[] = [];
  const otherChanged = new Set<string>();
  for (const e of entries) {
    const isCampaign = (p: string) => CAMPAIGN_FILE.test(p) && inScope(p);
    if (e.status === 'D') {
      if (isCampaign(e.path)) deleted.push(e.path);
      else otherChanged.add(e.path);
      continue;
    }
    if (e.status === 'R' && e.from && isCampaign(e.from) && isCampaign(e.path) && !(await sameCampaignId(root, mergeBase, e.from, e.path))) {
      // Git pairs a deleted file with a similar new one; with another id it is a new campaign.
      deleted.push(e.from);
      campaigns.set(e.path, { file: path.join(root, e.path), relFile: e.path, change: 'added' });
      continue;
    }
    if (isCampaign(e.path)) {
      const change: CampaignChange = e.status === 'A' || e.status === 'C' ? 'added' : e.status === 'R' ? 'renamed' : 'modified';
      campaigns.set(e.path, { file: path.join(root, e.path), relFile: e.path, change, ...(e.status === 'R' && e.from ? { from: e.from } : {}) });
    } else {
      otherChanged.add(e.path);
    }
    if (e.status === 'R' && e.from) {
      // Moved out of the campaigns folder: as far as sending goes, it is gone.
      if (isCampaign(e.from) && !isCampaign(e.path)) deleted.push(e.from);
      else if (!isCampaign(e.from)) otherChanged.add(e.from);
    }
  }

  if (otherChanged.size > 0) {
    for (const relFile of await campaignFilesInScope(root, o.scope)) {
      if (campaigns.has(relFile)) continue;
      const used = await filesUsedBy(root, relFile);
      const via = used.templates.filter((f) => otherChanged.has(f));
      const segment = used.segments.filter((f) => otherChanged.has(f));
      if (via.length > 0) campaigns.set(relFile, { file: path.join(root, relFile), relFile, change: 'template', via });
      else if (segment.length > 0) campaigns.set(relFile, { file: path.join(root, relFile), relFile, change: 'segment', via: segment });
    }
  }
  return {
    base: mergeBase,
    head,
    campaigns: [...campaigns.values()].sort((a, b) => a.relFile.localeCompare(b.relFile)),
    deleted: deleted.sort(),
  };
}

interface NameStatus {
  status: string;
  path: string;
  from?: string;
}

/** `git diff --name-status -z`: STATUS\0path\0, or for renames and copies Rnnn\0old\0new\0. */
export function parseNameStatus(out: string): NameStatus[] {
  const parts = out.split('\0');
  const entries: NameStatus[] = [];
  for (let i = 0; i < parts.length; ) {
    const status = parts[i++] ?? '';
    if (status === '') continue;
    const letter = status[0]!;
    if (letter === 'R' || letter === 'C') {
      const from = parts[i++] ?? '';
      const to = parts[i++] ?? '';
      entries.push({ status: letter, path: to, from });
    } else {
      entries.push({ status: letter, path: parts[i++] ?? '' });
    }
  }
  return entries;
}

function toRel(root: string, p: string): string {
  return path.relative(root, path.resolve(root, p)).split(path.sep).join('/');
}

function scopeMatcher(root: string, scope: string[] | undefined): (relFile: string) => boolean {
  const prefixes = (scope && scope.length > 0 ? scope : ['campaigns']).map((s) => toRel(root, s));
  return (relFile) => prefixes.some((p) => p === '' || relFile === p || relFile.startsWith(`${p}/`));
}

async function campaignFilesInScope(root: string, scope: string[] | undefined): Promise<string[]> {
  const files: string[] = [];
  for (const s of scope && scope.length > 0 ? scope : ['campaigns']) {
    const abs = path.resolve(root, s);
    const info = await stat(abs).catch(() => undefined);
    if (!info) continue;
    if (info.isFile()) {
      if (CAMPAIGN_FILE.test(abs)) files.push(toRel(root, abs));
      continue;
    }
    for (const e of await readdir(abs, { recursive: true, withFileTypes: true })) {
      if (e.isFile() && CAMPAIGN_FILE.test(e.name)) files.push(toRel(root, path.join(e.parentPath, e.name)));
    }
  }
  return [...new Set(files)];
}

/**
 * The templates a campaign names (its own and its variants') and every partial they include, and the segment file its
 * audience names (relative to the root). A file that does not parse is skipped here: if it is in
 * scope, validate reports it anyway.
 */
async function filesUsedBy(root: string, relFile: string): Promise<{ templates: string[]; segments: string[] }> {
  let templates: unknown[] = [];
  let segment: unknown;
  try {
    const doc: unknown = parseYaml(readTextConfined(path.join(root, relFile), root));
    const top = doc && typeof doc === 'object' ? (doc as Record<string, unknown>) : {};
    // The campaign's template and each A/B variant's own.
    const variants = Array.isArray(top.variants) ? top.variants : [];
    templates = [top.template, ...variants.map((v: unknown) => (v && typeof v === 'object' ? (v as Record<string, unknown>).template : undefined))];
    segment = top.audience && typeof top.audience === 'object' ? (top.audience as Record<string, unknown>).segment : undefined;
  } catch {
    return { templates: [], segments: [] };
  }
  // Both spellings: whichever exists is the one read (src/audience/segments.ts).
  const segments = typeof segment === 'string' && /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/.test(segment) ? [`segments/${segment}.yaml`, `segments/${segment}.yml`] : [];
  const files = new Set<string>();
  for (const t of templates) for (const f of await templateFilesOf(root, t)) files.add(f);
  return { templates: [...files], segments };
}

/** The template and every partial it includes (relative to the root). */
async function templateFilesOf(root: string, template: unknown): Promise<string[]> {
  if (typeof template !== 'string' || template.trim() === '') return [];
  const first = path.resolve(root, template.trim());
  const seen = new Set<string>([first]);
  const queue = [first];
  for (let abs = queue.shift(); abs; abs = queue.shift()) {
    const text = readTextConfined(abs, root);
    // The same resolution as compileMjml: relative to the including file, .mjml optional.
    for (const m of text.matchAll(INCLUDE)) {
      const resolved = path.resolve(path.dirname(abs), m[1] ?? '');
      const found = [resolved, `${resolved}.mjml`].find((c) => existsSync(c));
      if (found && !seen.has(found)) {
        seen.add(found);
        queue.push(found);
      }
    }
  }
  return [...seen].map((f) => toRel(root, f));
}

/**
 * A file's text if it is a regular file inside the repository (after symlinks) and within the
 * size limit, else ''. The paths come from a pull request: `template: /dev/zero` or a symlink to
 * a file outside must cost nothing here (validate then reports them with the reason).
 */
function readTextConfined(abs: string, root: string): string {
  const r = readConfined(abs, root);
  return r.ok ? r.bytes.toString('utf8') : '';
}

async function sameCampaignId(root: string, base: string, from: string, to: string): Promise<boolean> {
  const idOf = (text: string | undefined): unknown => {
    try {
      const doc: unknown = text === undefined ? undefined : parseYaml(text);
      return doc && typeof doc === 'object' ? (doc as Record<string, unknown>).id : undefined;
    } catch {
      return undefined;
    }
  };
  // `<rev>:./path` is relative to the working directory, like the --relative paths.
  const before = idOf(await git(root, ['show', `${base}:./${from}`]).catch(() => undefined));
  const after = idOf(readTextConfined(path.join(root, to), root) || undefined);
  return before !== undefined && before === after;
}

async function missingHistory(root: string, what: string): Promise<MarketerError> {
  const shallow = (await git(root, ['rev-parse', '--is-shallow-repository']).catch(() => 'false')).trim() === 'true';
  return shallow
    ? inputError('SHALLOW_CLONE', `Cannot find what changed: ${what}, because it is a shallow clone.`, {
      hint: 'Fetch the history: in GitHub Actions set `fetch-depth: 0` on actions/checkout, or run `git fetch --deepen=50` (repeat until the base commit is found).',
    })
    : inputError('UNKNOWN_COMMIT', `Cannot find what changed: ${what}.`, {
      hint: 'Pass a commit of this repository (a sha, a branch such as origin/main, or a tag); `git fetch` first if it came from elsewhere.',
    });
}

async function git(cwd: string, args: string[]): Promise<string> {
  // No shell: the base sha comes from outside (a workflow input) and must stay one argument.
  const { stdout } = await run('git', args, { cwd, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}
