import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { git } from './git.js';

export interface CampaignFile {
  /** Relative to the config root, with `/`. */
  file: string;
  /** The `id` in the file, when it parses. */
  campaign: number | null;
}

/** The committed campaign files under campaigns/ at HEAD, with their ids. */
export async function committedCampaignFiles(root: string): Promise<CampaignFile[]> {
  const out = await git(root, ['ls-files', '-z', '--', 'campaigns']);
  const files = out.split('\0').filter((f) => /\.ya?ml$/i.test(f)).sort();
  return Promise.all(files.map(async (file) => ({ file, campaign: await idOf(path.join(root, file)) })));
}

async function idOf(file: string): Promise<number | null> {
  try {
    const doc: unknown = parseYaml(await readFile(file, 'utf8'));
    const id = doc && typeof doc === 'object' ? (doc as Record<string, unknown>).id : undefined;
    return typeof id === 'number' && Number.isInteger(id) ? id : null;
  } catch {
    return null;
  }
}
