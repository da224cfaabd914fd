import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SIMPLE_TEMPLATE } from '../helpers/campaign-repo.js';

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Test', GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'Test', GIT_COMMITTER_EMAIL: 'test@example.com',
  GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null',
};

export function git(dir: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd: dir, env: GIT_ENV, encoding: 'utf8' }).trim();
}

/** A real git repository in a temp folder, built from inline file trees, one commit at a time. */
export class GitRepo {
  readonly dir: string;

  constructor(dir?: string) {
    this.dir = dir ?? mkdtempSync(path.join(tmpdir(), 'marketer-git-'));
    git(this.dir, 'init', '-q', '-b', 'main');
  }

  write(files: Record<string, string>): this {
    for (const [name, text] of Object.entries(files)) {
      const file = path.join(this.dir, name);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, text);
    }
    return this;
  }

  move(from: string, to: string): this {
    mkdirSync(path.dirname(path.join(this.dir, to)), { recursive: true });
    renameSync(path.join(this.dir, from), path.join(this.dir, to));
    return this;
  }

  remove(name: string): this {
    rmSync(path.join(this.dir, name));
    return this;
  }

  /** Commit everything; returns the new commit's sha. */
  commit(message: string): string {
    git(this.dir, 'add', '-A');
    git(this.dir, 'commit', '-q', '--allow-empty', '-m', message);
    return this.head();
  }

  head(): string {
    return git(this.dir, 'rev-parse', 'HEAD');
  }

  git(...args: string[]): string {
    return git(this.dir, ...args);
  }
}

/** The same minimal template the other tests use. */
export const TEMPLATE = SIMPLE_TEMPLATE;

export const WITH_FOOTER = `<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text>Hello {{ first_name | default('friend') }}.</mj-text>
      </mj-column>
    </mj-section>
    <mj-include path="./partials/footer.mjml" />
  </mj-body>
</mjml>
`;

export const FOOTER = `<mj-section>
  <mj-column>
    <mj-text><a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>
  </mj-column>
</mj-section>
`;

export function campaign(id: number, o: { template?: string; subject?: string; tags?: string[] } = {}): string {
  return [
    `id: ${id}`,
    `name: Campaign ${id}`,
    `subject: "${o.subject ?? `Hello {{ first_name | default('there') }}, news ${id}`}"`,
    'from: "Test Sender <news@example.com>"',
    `template: ${o.template ?? 'templates/simple.mjml'}`,
    `audience: { tags: [${(o.tags ?? ['newsletter']).join(', ')}] }`,
    '',
  ].join('\n');
}
