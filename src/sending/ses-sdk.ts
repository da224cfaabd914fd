import { loadPackage } from '../load-package.js';

/** The AWS SDK's SES v2 client module. */
export type SesSdk = typeof import('@aws-sdk/client-sesv2');

/**
 * The SES client and the HTTP handler it runs on, loaded when the first request is made: they
 * take 190–340 ms of CPU to load, which a command should spend only when it talks to SES, and
 * not before it starts its work (reading campaigns) or when it never does (a dry run, the outbox
 * transport).
 */
export async function loadSesSdk(): Promise<{ sdk: SesSdk; NodeHttpHandler: typeof import('@smithy/node-http-handler').NodeHttpHandler }> {
  const [sdk, handler] = await Promise.all([loadPackage<SesSdk>('@aws-sdk/client-sesv2'), loadPackage<typeof import('@smithy/node-http-handler')>('@smithy/node-http-handler')]);
  return { sdk, NodeHttpHandler: handler.NodeHttpHandler };
}
