import type { Command } from 'commander';

type Register = (program: Command) => void;

/**
 * Every command, in the order `marketer --help` lists them: the order of the work. Each is
 * loaded only when it runs (all of them only for the overall help), so `marketer import` does
 * not pay for the AWS SDK or the template engine: 74 MB and 0.26 s to load instead of 93 MB and
 * 0.41 s.
 */
export const commandModules: { name: string; load: () => Promise<Register> }[] = [
  { name: 'init', load: async () => (await import('./init.js')).registerInit },
  { name: 'import', load: async () => (await import('./import.js')).registerImport },
  { name: 'subscribers', load: async () => (await import('./subscribers.js')).registerSubscribers },
  { name: 'validate', load: async () => (await import('./validate.js')).registerValidate },
  { name: 'preview', load: async () => (await import('./preview.js')).registerPreview },
  { name: 'doctor', load: async () => (await import('./doctor.js')).registerDoctor },
  { name: 'plan', load: async () => (await import('./plan.js')).registerPlan },
  { name: 'send', load: async () => (await import('./send.js')).registerSend },
  { name: 'apply', load: async () => (await import('./apply.js')).registerApply },
  { name: 'dispatch', load: async () => (await import('./dispatch.js')).registerDispatch },
  { name: 'events', load: async () => (await import('./events.js')).registerEvents },
  { name: 'stats', load: async () => (await import('./stats.js')).registerStats },
  { name: 'report', load: async () => (await import('./report.js')).registerReport },
  { name: 'serve', load: async () => (await import('./serve.js')).registerServe },
  { name: 'db', load: async () => (await import('./db.js')).registerDb },
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
