import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';
import { SCAFFOLD_FILES } from '../../src/cli/commands/init.js';
import { REPO, runCli } from '../helpers/cli.js';

interface ActionFile {
  inputs: Record<string, { description: string; required?: boolean; default?: string }>;
  runs: { using: string; steps: { uses?: string; run?: string; env?: Record<string, string>; with?: Record<string, string> }[] };
}
interface WorkflowStep { uses?: string; with?: Record<string, string>; if?: string }
interface Workflow { on: Record<string, unknown>; jobs: Record<string, { if?: string; steps: WorkflowStep[] }> }

const action = parseYaml(readFileSync(path.join(REPO, 'action.yml'), 'utf8')) as ActionFile;
const runScript = readFileSync(path.join(REPO, 'action/run.sh'), 'utf8');

/** The action's `command` input → the CLI command it runs. */
const COMMANDS: Record<string, string[]> = {
  validate: ['validate'], plan: ['plan'], apply: ['apply'], send: ['send'], dispatch: ['dispatch'], 'events-pull': ['events', 'pull'],
};
/** Inputs passed as a CLI option, and to which commands. */
const OPTION_INPUTS: Record<string, string[]> = {
  'changed-since': ['validate', 'plan', 'send'],
  since: ['apply'],
  'allow-ephemeral-db': ['apply', 'send', 'dispatch', 'events-pull'],
  'queue-url': ['events-pull'],
};
/** Inputs that set the environment or the step rather than an option. */
const OTHER_INPUTS = ['command', 'campaigns', 'database-url', 'aws-region', 'args', 'working-directory', 'preview-artifact', 'node-version'];

let program: Command;
beforeAll(async () => {
  program = await buildProgram();
});

function cliCommand(names: string[]): Command {
  let cmd: Command = program;
  for (const n of names) {
    const next = cmd.commands.find((c) => c.name() === n);
    if (!next) throw new Error(`no command ${names.join(' ')}`);
    cmd = next;
  }
  return cmd;
}
const longOptions = (names: string[]) => cliCommand(names).options.map((o) => o.long);

describe('action.yml', () => {
  it('is a composite action whose inputs are the CLI\'s options', () => {
    expect(action.runs.using).toBe('composite');
    expect(Object.keys(action.inputs).sort()).toEqual([...Object.keys(OPTION_INPUTS), ...OTHER_INPUTS].sort());
    for (const [input, commands] of Object.entries(OPTION_INPUTS)) {
      for (const c of commands) expect(longOptions(COMMANDS[c]!), `${c} --${input}`).toContain(`--${input}`);
      expect(runScript).toContain(`--${input}`);
    }
    // Every command the action offers exists, and the script handles each one.
    expect(action.inputs.command!.description).toContain(Object.keys(COMMANDS).join(', ').replace(', events-pull', ' or events-pull'));
    for (const [name, cli] of Object.entries(COMMANDS)) {
      expect(cliCommand(cli).name()).toBe(cli.at(-1));
      expect(runScript).toContain(`  ${name})\n    `);
      expect(runScript).toContain(`marketer ${cli.join(' ')} `);
    }
    expect(longOptions(['plan'])).toContain('--preview-dir');
  });

  it('hands every input to the script through the environment, never as script text', () => {
    const step = action.runs.steps.find((s) => s.run?.includes('action/run.sh'))!;
    expect(step.run).not.toContain('${{');
    // The other three shape the steps themselves (working-directory:, the artifact, setup-node).
    for (const input of Object.keys(action.inputs).filter((i) => !['working-directory', 'preview-artifact', 'node-version'].includes(i))) {
      expect(step.env![`INPUT_${input.toUpperCase().replace(/-/g, '_')}`]).toBe(`\${{ inputs.${input} }}`);
    }
    // AWS credentials come from configure-aws-credentials (OIDC), never from inputs.
    expect(Object.keys(action.inputs).filter((i) => /key|secret|token|password/i.test(i))).toEqual([]);
    expect(runScript).not.toMatch(/set -x|echo "\$DATABASE_URL|echo "\$\{DATABASE_URL/);
    const upload = action.runs.steps.find((s) => s.uses?.startsWith('actions/upload-artifact@'))!;
    expect(upload.with!.path).toBe('${{ runner.temp }}/marketer-preview');
    expect(step.env!.INPUT_PREVIEW_DIR).toContain("format('{0}/marketer-preview', runner.temp)");
  });
});

describe('marketer init', () => {
  it('scaffolds a repository that validates at once, with a workflow that agrees with action.yml', async () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'marketer-init-')), 'mail');
    const r = await runCli(['init', dir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ dir, files: SCAFFOLD_FILES.map((f) => f.target), overwritten: [] });
    expect(readFileSync(path.join(dir, '.gitignore'), 'utf8')).toMatch(/^\.marketer\/$/m);
    expect(readFileSync(path.join(dir, '.gitignore'), 'utf8')).toMatch(/^outbox\/$/m);

    const v = await runCli(['validate'], { cwd: dir });
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toBe('OK campaigns/welcome.yaml: campaign 1 "Welcome (example)" (templates/layout.mjml, 0 links)\n');
    // …and with the settings sending through SES needs.
    const ses = await runCli(['validate'], { cwd: dir, env: { MARKETER_TRANSPORT: 'ses', MARKETER_UNSUBSCRIBE_SECRET: 's', MARKETER_UNSUBSCRIBE_URL: 'https://mail.example.com/u' } });
    expect(ses.code, ses.stderr).toBe(0);
    expect(ses.stderr).toBe('');

    const workflow = parseYaml(readFileSync(path.join(dir, '.github/workflows/marketer.yml'), 'utf8')) as Workflow;
    expect(Object.keys(workflow.on).sort()).toEqual(['pull_request', 'push', 'schedule', 'workflow_dispatch']);
    expect(workflow.on.schedule).toEqual([{ cron: '*/15 * * * *' }]);
    const used = new Map<string, string[]>();
    for (const [job, { steps }] of Object.entries(workflow.jobs)) {
      for (const step of steps) {
        if (step.uses?.startsWith('actions/checkout@')) expect(step.with?.['fetch-depth'], job).toBe(0);
        if (step.uses !== 'marketer-dev/marketer@v1') continue;
        for (const key of Object.keys(step.with ?? {})) expect(Object.keys(action.inputs), `${job}: ${key}`).toContain(key);
        used.set(job, [...(used.get(job) ?? []), step.with!.command!]);
      }
    }
    expect(Object.fromEntries(used)).toEqual({ review: ['validate', 'plan'], apply: ['apply', 'events-pull'] });
  });

  it('lists the files it would overwrite and changes nothing, unless --force', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'marketer-init-'));
    writeFileSync(path.join(dir, 'marketer.yaml'), 'from: me@example.com\n');
    const r = await runCli(['init'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error . already has a file that init would write; nothing was changed:\n  marketer.yaml\nhint Pass --force to overwrite them, or run marketer init in an empty folder.\n');
    expect(readFileSync(path.join(dir, 'marketer.yaml'), 'utf8')).toBe('from: me@example.com\n');
    const forced = await runCli(['init', '--force', '--action', 'acme/marketer@v2'], { cwd: dir });
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toContain('marketer.yaml (overwritten)');
    expect(readFileSync(path.join(dir, '.github/workflows/marketer.yml'), 'utf8')).toContain('uses: acme/marketer@v2');
  });
});
