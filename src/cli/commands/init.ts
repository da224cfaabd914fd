import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import chalk from 'chalk';
import type { Command } from 'commander';
import { inputError } from '../../errors.js';
import { createOutput } from '../output.js';
import { plural } from '../format.js';


/**
 * The scaffold/ folder of this package, source → target. npm leaves `.gitignore` out of
 * published packages and dot-folders are easy to lose, so those are stored without the dot.
 */
export const SCAFFOLD_FILES: readonly { source: string; target: string }[] = [
  { source: 'marketer.yaml', target: 'marketer.yaml' },
  { source: 'campaigns/welcome.yaml', target: 'campaigns/welcome.yaml' },
  { source: 'templates/layout.mjml', target: 'templates/layout.mjml' },
  { source: 'subscribers.example.csv', target: 'subscribers.example.csv' },
  { source: 'gitignore', target: '.gitignore' },
  { source: 'github/workflows/marketer.yml', target: '.github/workflows/marketer.yml' },
];

const SCAFFOLD_DIR = new URL('../../../scaffold/', import.meta.url);

interface InitOptions {
  force?: boolean;
  action: string;
  json?: boolean;
}

export async function initAction(dir: string, opts: InitOptions, cmd: Command): Promise<void> {
  // No commandContext: a broken marketer.yaml here is no reason to refuse writing a new one.
  const out = createOutput(Boolean(cmd.optsWithGlobals<{ json?: boolean }>().json));
  const root = path.resolve(dir);
  const existing = SCAFFOLD_FILES.filter((f) => existsSync(path.join(root, f.target))).map((f) => f.target);
  if (existing.length > 0 && !opts.force) {
    throw inputError('INIT_EXISTS', `${rel(root)} already has ${existing.length === 1 ? 'a file' : plural(existing.length, 'file')} that init would write; nothing was changed:`, {
      details: existing,
      hint: 'Pass --force to overwrite them, or run marketer init in an empty folder.',
    });
  }
  for (const f of SCAFFOLD_FILES) {
    let text = await readFile(new URL(f.source, SCAFFOLD_DIR), 'utf8');
    if (f.target.endsWith('marketer.yml')) text = text.replaceAll('__MARKETER_ACTION__', opts.action);
    const target = path.join(root, f.target);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, text);
  }
  const files = SCAFFOLD_FILES.map((f) => f.target);
  if (out.json) {
    out.printJson({ dir: root, files, overwritten: existing });
    return;
  }
  out.info(`Created a campaigns repository in ${rel(root)}:`);
  for (const f of files) out.info(`  ${f}${existing.includes(f) ? chalk.yellow(' (overwritten)') : ''}`);
  out.info('');
  out.info('Next:');
  if (rel(root) !== '.') out.info(`  cd ${rel(root)}`);
  out.info('  marketer validate                         # check the example campaign');
  out.info('  marketer import subscribers.example.csv   # two example subscribers');
  out.info('  marketer plan campaigns/welcome.yaml      # audience, waves, checks');
  out.info('  marketer send campaigns/welcome.yaml      # to outbox/ until DATABASE_URL and SES are set');
  out.info('Then push to GitHub, add the secrets and variables listed at the top of .github/workflows/marketer.yml,');
  out.info('and start it once: Actions > marketer > Run workflow, with "since" = the current commit.');
}

function rel(dir: string): string {
  return path.relative(process.cwd(), dir) || '.';
}
