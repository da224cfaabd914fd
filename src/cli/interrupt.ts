/**
 * First Ctrl-C (or SIGTERM): abort gracefully, finishing the sends in hand. Second: exit now.
 * Returns a function that removes the handlers.
 */
export function onInterrupt(controller: AbortController, notice: (line: string) => void): () => void {
  let count = 0;
  const handler = () => {
    count += 1;
    if (count === 1) {
      notice('Stopping: finishing the messages in flight and returning the rest to the queue (Ctrl-C again to quit at once).');
      controller.abort();
    } else process.exit(130);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
