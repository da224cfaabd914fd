#!/usr/bin/env node
// The AWS SDK warns on every run that its 2027 releases will need Node 22; the
// lock file holds releases that support this Node, so the notice is noise in every CI log.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { main } = await import('../dist/cli/main.js');

main(process.argv).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(err); process.exitCode = 1; },
);
