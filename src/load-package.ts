/**
 * import() of an installed package or a Node built-in, for code that loads one only when it
 * first needs it. Every such import() goes through here: in the bundled CLI (dist/cli/cli.cjs)
 * scripts/bundle.mjs puts in its place one that uses the import() of the file that loaded the
 * bundle (bin/code-cache.js), because code that V8 restores from its code cache on Node 20
 * cannot run an import() of its own.
 */
export function loadPackage<T>(specifier: string): Promise<T> {
  return import(specifier) as Promise<T>;
}
